// File: data/hai_data_main.cc
//
// A `hai` with only the data subcommands linked in, for developing and
// testing data/ alone; the real binary is //tools:hai.
//
//   bazel run //data:hai_data -- data write-corpus --out /tmp/q.u32
#include "haiscale/cli/subcommand.h"

int main(int argc, char** argv) { return hs::cli::RunMain(argc, argv); }
