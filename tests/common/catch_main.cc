// The one Catch2 v2 main of every test binary (ketcd_catch_main in
// tests/CMakeLists.txt): Catch's runner is compiled once, not once per binary.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
