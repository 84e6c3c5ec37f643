#include "gradatlas/enum_names.hpp"

#include "gradatlas/activations.hpp"
#include "gradatlas/init.hpp"
#include "gradatlas/mlp.hpp"
#include "gradatlas/recurrent.hpp"
#include "gradatlas/run.hpp"
#include "gradatlas/train.hpp"
#include "gradatlas/transformer.hpp"

namespace gradatlas {
namespace {

// Each switch names every enumerator (-Wswitch warns when one is added
// without a name) and returns null past the last code, so the codes must run
// from 0 without gaps, as every enum here does (they are append-only).
const char* name(Activation a) {
    switch (a) {
        case Activation::linear:
            return "linear";
        case Activation::relu:
            return "relu";
        case Activation::leaky_relu:
            return "leaky_relu";
        case Activation::elu:
            return "elu";
        case Activation::selu:
            return "selu";
        case Activation::gelu:
            return "gelu";
        case Activation::silu:
            return "silu";
        case Activation::softplus:
            return "softplus";
        case Activation::sigmoid:
            return "sigmoid";
        case Activation::tanh:
            return "tanh";
        case Activation::hard_tanh:
            return "hard_tanh";
        case Activation::erf:
            return "erf";
    }
    return nullptr;
}

const char* name(Norm n) {
    switch (n) {
        case Norm::none:
            return "none";
        case Norm::batch:
            return "batch";
        case Norm::layer:
            return "layer";
    }
    return nullptr;
}

const char* name(Projection p) {
    switch (p) {
        case Projection::query:
            return "query";
        case Projection::key:
            return "key";
        case Projection::value:
            return "value";
        case Projection::attn_out:
            return "attn_out";
        case Projection::mlp_in:
            return "mlp_in";
        case Projection::mlp_out:
            return "mlp_out";
    }
    return nullptr;
}

const char* name(WeightDist d) {
    switch (d) {
        case WeightDist::normal:
            return "normal";
        case WeightDist::uniform:
            return "uniform";
        case WeightDist::orthogonal:
            return "orthogonal";
    }
    return nullptr;
}

const char* name(Cell c) {
    switch (c) {
        case Cell::rnn:
            return "rnn";
        case Cell::lstm:
            return "lstm";
        case Cell::gru:
            return "gru";
    }
    return nullptr;
}

const char* name(RecurrentDist d) {
    switch (d) {
        case RecurrentDist::normal:
            return "normal";
        case RecurrentDist::uniform:
            return "uniform";
        case RecurrentDist::orthogonal:
            return "orthogonal";
        case RecurrentDist::identity:
            return "identity";
    }
    return nullptr;
}

const char* name(Loss l) {
    switch (l) {
        case Loss::projection:
            return "projection";
        case Loss::sum_squares:
            return "sum_squares";
    }
    return nullptr;
}

const char* name(NonFinite k) {
    switch (k) {
        case NonFinite::none:
            return "none";
        case NonFinite::forward_overflow:
            return "forward_overflow";
        case NonFinite::forward_nan:
            return "forward_nan";
        case NonFinite::backward_overflow:
            return "backward_overflow";
        case NonFinite::backward_nan:
            return "backward_nan";
    }
    return nullptr;
}

const char* name(Optimizer o) {
    switch (o) {
        case Optimizer::sgd:
            return "sgd";
        case Optimizer::momentum:
            return "momentum";
        case Optimizer::adam:
            return "adam";
    }
    return nullptr;
}

const char* name(ClipMode c) {
    switch (c) {
        case ClipMode::none:
            return "none";
        case ClipMode::norm:
            return "norm";
        case ClipMode::value:
            return "value";
    }
    return nullptr;
}

template <typename E>
std::vector<std::string> names() {
    std::vector<std::string> out;
    for (int code = 0;; ++code) {
        const char* n = name(static_cast<E>(code));
        if (!n) return out;
        out.emplace_back(n);
    }
}

}  // namespace

std::map<std::string, std::vector<std::string>> enum_names() {
    return {{"activation", names<Activation>()},
            {"norm", names<Norm>()},
            {"weight_dist", names<WeightDist>()},
            {"cell", names<Cell>()},
            {"recurrent_dist", names<RecurrentDist>()},
            {"loss", names<Loss>()},
            {"nonfinite", names<NonFinite>()},
            {"optimizer", names<Optimizer>()},
            {"clip", names<ClipMode>()},
            {"projection", names<Projection>()}};
}

}  // namespace gradatlas
