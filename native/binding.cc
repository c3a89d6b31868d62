// Placeholder until the scheduler lands; replaced by the real binding.
#include <pybind11/pybind11.h>
PYBIND11_MODULE(_native, m) { m.doc() = "naiad native core"; }
