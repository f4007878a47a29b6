// File: data/tokenizer/hai_tokenizer_main.cc
//
// A `hai` with only the tokenizer subcommands linked in, for the tokenizer's
// tests and for working on data/tokenizer/ alone; the real binary is
// //tools:hai.
#include "haiscale/cli/subcommand.h"

int main(int argc, char** argv) { return hs::cli::RunMain(argc, argv); }
