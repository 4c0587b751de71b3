// Catch2 v2 main for the raft test binaries.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
