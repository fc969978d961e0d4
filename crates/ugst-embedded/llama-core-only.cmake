# Included by CMake right after llama.cpp's `project()` (see .cargo/config.toml). ugst uses only
# llama.cpp's core library (model, context, sampler, grammar parser) and has its own JSON Schema
# → grammar converter, so llama.cpp's `common` helper library — about 40% of the C++ build — is
# switched off here. llama-cpp-2 0.1.160 always turns on llama-cpp-sys-2's default `common`
# feature (its dependency keeps default features), so a Cargo feature cannot do this; the sys
# crate's build script forwards every `CMAKE_*` environment variable to CMake, which this uses.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "ugst: llama.cpp core only" FORCE)
