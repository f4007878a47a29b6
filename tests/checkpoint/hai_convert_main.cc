// File: tests/checkpoint/hai_convert_main.cc — a `hai` with only the
// convert subcommand linked, so convert_cli_test.sh exercises the real
// command line without building every subcommand (tools/hai links it too).
#include "haiscale/cli/subcommand.h"

int main(int argc, char** argv) { return hs::cli::RunMain(argc, argv); }
