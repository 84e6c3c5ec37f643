// Shared by every binding file: the progress/cancel hook that connects the
// core to Python's signal handling and to an optional Python callback.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "gradatlas/progress.hpp"
#include "gradatlas/run.hpp"

namespace gradatlas::bindings {

namespace py = pybind11;

// State shared between the hook (which runs with the GIL released around it)
// and the binding that raises afterwards.
struct HookState {
    py::object callback;       // None or callable(done, total)
    bool interrupted = false;  // a Python exception is pending
};

// The core polls this between layers from the calling thread, at most every
// 50 ms. It takes the GIL, lets Python run signal handlers (Ctrl-C raises
// KeyboardInterrupt there) and the user's callback; any exception cancels the
// run and stays pending until raise_if_interrupted().
inline ProgressHook make_hook(const std::shared_ptr<HookState>& state) {
    return [state](std::int64_t done, std::int64_t total) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
            state->interrupted = true;
            return false;
        }
        if (!state->callback.is_none()) {
            try {
                state->callback(done, total);
            } catch (py::error_already_set& e) {
                e.restore();
                state->interrupted = true;
                return false;
            }
        }
        return true;
    };
}

inline void raise_if_interrupted(const HookState& state) {
    if (state.interrupted) throw py::error_already_set();
}

// Runs run(hook) with the GIL released (safe: the core touches only raw
// buffers and calls back only through the hook, which takes the GIL itself);
// re-raises a Python exception from the hook (Ctrl-C, the callback) and
// reports a cancelled run.
template <typename Run>
void run_without_gil(py::object progress, Run&& run) {
    auto state = std::make_shared<HookState>();
    state->callback = std::move(progress);
    const ProgressHook hook = make_hook(state);
    RunStatus status;
    {
        py::gil_scoped_release nogil;
        status = run(hook);
    }
    raise_if_interrupted(*state);
    if (status == RunStatus::cancelled) throw std::runtime_error("the run was cancelled");
}

// Python validates dtype; the core checks again rather than trusting it.
inline bool is_float32(const std::string& dtype) {
    if (dtype == "float32") return true;
    if (dtype == "float64") return false;
    throw py::value_error("dtype must be 'float32' or 'float64', got '" + dtype + "'");
}

template <typename T>
using carray = py::array_t<T, py::array::c_style>;

}  // namespace gradatlas::bindings
