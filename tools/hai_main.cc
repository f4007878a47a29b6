// File: tools/hai_main.cc — the `hai` binary: dispatches to the subcommands
// registered by the libraries it links (see haiscale/cli/subcommand.h).
#include "haiscale/cli/subcommand.h"

int main(int argc, char** argv) { return hs::cli::RunMain(argc, argv); }
