# File: tools/build_defs/cuda.bzl
#
# cuda_library: compiles .cu files with the CUDA toolkit's nvcc
# (/usr/local/cuda/bin/nvcc) for sm_80 (A100) and sm_90 (H100) into PIC
# objects, and wraps them in a cc_library that links cudart. No
# relocatable device code: every .cu is self-contained (kernels plus their
# host launchers), so the host linker links the objects like any other.
#
# Every target this macro creates is tagged "manual": nvcc only exists on
# CUDA build machines, and the default `bazel test //...` never expands a
# manual target. CUDA builds name the targets (or the test_suites that list
# them) explicitly; see docs/cuda.md and tools/test.sh.
#
# Usage (in a BUILD file):
#   load("//tools/build_defs:cuda.bzl", "cuda_library")
#   cuda_library(
#       name = "rms_norm",
#       srcs = ["rms_norm.cu"],
#       hdrs = ["rms_norm.h"],
#       deps = [":launch"],          # their headers are visible to nvcc
#   )
#
# The nvcc command per .cu (run from the execroot):
#   nvcc -c -O3 -std=c++20 --expt-relaxed-constexpr -Xcompiler -fPIC
#        -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
#        -I. -I<bin> -I<genfiles> -I/-isystem <dep include dirs> -D<dep defines>
#        <copts> -o <obj> <src.cu>

NVCC = "/usr/local/cuda/bin/nvcc"

CUDA_ARCHS = ["80", "90"]

CUDA_NVCC_FLAGS = [
    "-c",
    "-O3",
    "-std=c++20",
    "--expt-relaxed-constexpr",
    "-Xcompiler",
    "-fPIC",
] + [
    flag
    for arch in CUDA_ARCHS
    for flag in ["-gencode", "arch=compute_%s,code=sm_%s" % (arch, arch)]
]

def _cuda_objects_impl(ctx):
    # Headers and include paths of the deps (transitively), so a .cu may
    # include anything a cc_library dep exports.
    contexts = [d[CcInfo].compilation_context for d in ctx.attr.deps if CcInfo in d]
    headers = depset(
        ctx.files.hdrs,
        transitive = [c.headers for c in contexts],
    )
    includes = depset(transitive = [c.includes for c in contexts] +
                                   [c.quote_includes for c in contexts])
    system_includes = depset(transitive = [c.system_includes for c in contexts])
    defines = depset(transitive = [c.defines for c in contexts])

    objects = []
    for src in ctx.files.srcs:
        stem = src.path[:-len(src.extension) - 1]
        if src.owner.package and stem.startswith(src.owner.package + "/"):
            stem = stem[len(src.owner.package) + 1:]
        obj = ctx.actions.declare_file("_cuda_objs/%s/%s.pic.o" % (ctx.label.name, stem))
        args = ctx.actions.args()
        args.add_all(CUDA_NVCC_FLAGS)
        args.add("-I.")
        args.add("-I" + ctx.bin_dir.path)
        args.add("-I" + ctx.genfiles_dir.path)
        args.add_all(includes, format_each = "-I%s")
        args.add_all(system_includes, before_each = "-isystem")
        args.add_all(defines, format_each = "-D%s")
        args.add_all(ctx.attr.copts)
        args.add("-o", obj)
        args.add(src)
        ctx.actions.run(
            executable = NVCC,
            arguments = [args],
            inputs = depset([src], transitive = [headers]),
            outputs = [obj],
            mnemonic = "NvccCompile",
            progress_message = "nvcc (sm_%s) %s" % ("+sm_".join(CUDA_ARCHS), src.short_path),
            # nvcc finds the host compiler (g++) on PATH.
            use_default_shell_env = True,
        )
        objects.append(obj)
    return [DefaultInfo(files = depset(objects))]

_cuda_objects = rule(
    implementation = _cuda_objects_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = [".cu"]),
        "hdrs": attr.label_list(allow_files = [".h", ".cuh", ".hpp", ".inc"]),
        "deps": attr.label_list(providers = [CcInfo]),
        "copts": attr.string_list(),
    },
)

def cuda_library(name, srcs, hdrs = [], deps = [], copts = [], tags = [],
                 visibility = None, testonly = False):
    """A cc_library whose sources are .cu files compiled by nvcc.

    Args:
      name: the cc_library's name (the objects are `<name>_cuda_objs`).
      srcs: .cu files.
      hdrs: headers of this library (.h/.cuh); visible to nvcc and to dependents.
      deps: cc_library deps; their headers are visible to nvcc. cudart is added.
      copts: extra nvcc flags (e.g. ["-lineinfo"]).
      tags: extra tags; "manual" is always added.
      visibility: as for cc_library.
      testonly: as for cc_library.
    """
    all_tags = tags + ([] if "manual" in tags else ["manual"])
    _cuda_objects(
        name = name + "_cuda_objs",
        srcs = srcs,
        hdrs = hdrs,
        deps = deps,
        copts = copts,
        tags = all_tags,
        testonly = testonly,
        visibility = ["//visibility:private"],
    )
    native.cc_library(
        name = name,
        srcs = [":" + name + "_cuda_objs"],
        hdrs = hdrs,
        deps = deps + ["@cuda//:cudart"],
        tags = all_tags,
        testonly = testonly,
        visibility = visibility,
    )
