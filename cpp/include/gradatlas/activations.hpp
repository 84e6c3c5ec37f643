// Activation functions and their exact derivatives.
#pragma once

#include <cstddef>

namespace gradatlas {

// The integer values are part of the binding contract; append only.
enum class Activation : int {
    linear = 0,
    relu = 1,
    leaky_relu = 2,  // param = negative slope
    elu = 3,         // alpha = 1
    selu = 4,
    gelu = 5,  // exact erf form: x * Phi(x)
    silu = 6,
    softplus = 7,  // log(1 + e^x), no threshold
    sigmoid = 8,
    tanh = 9,
    hard_tanh = 10,  // clip to [-1, 1]
    erf = 11,
};

constexpr int activation_count = 12;

// phi[i] = phi(h[i]) and dphi[i] = phi'(h[i]) for i < n. Either output may be
// null when it is not needed. At a kink (relu at 0, hard_tanh at +-1) the
// derivative is the one PyTorch's autograd uses (0 for relu at 0, 0 for
// hard_tanh at +-1).
template <typename T>
void apply_activation(Activation act, double param, const T* h, T* phi, T* dphi, std::size_t n);

}  // namespace gradatlas
