// The names of the core's enums, each in code order. The bindings export them
// and the Python tables (activations, norms, cells, losses, ...) are built
// from them, so the two sides cannot drift apart. Codes are append-only.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace gradatlas {

// {"activation": ["linear", "relu", ...], "norm": [...], ...}
std::map<std::string, std::vector<std::string>> enum_names();

}  // namespace gradatlas
