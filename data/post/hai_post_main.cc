// File: data/post/hai_post_main.cc
//
// A `hai` with only the post-training data subcommands (and the tokenizer
// ones) linked in, for data/post's CLI test; the real binary is //tools:hai.
#include "haiscale/cli/subcommand.h"

int main(int argc, char** argv) { return hs::cli::RunMain(argc, argv); }
