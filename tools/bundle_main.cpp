// tools/bundle_main.cpp — the main of one program of a bundle (examples/bundle.cpp,
// tools/bench_bundle.cpp: several whole programs compiled in one unit, each in a namespace named
// after it, so that the library code they share is compiled once). Compiled with
// -DLACOOT_PROGRAM=<name> and linked with the bundle, it runs that program's main.
namespace LACOOT_PROGRAM {
int main(int argc, char** argv);
}

int main(int argc, char** argv) { return LACOOT_PROGRAM::main(argc, argv); }
