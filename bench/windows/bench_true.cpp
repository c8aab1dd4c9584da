// The trivial child of spawn_bench_windows: exits 0 at once (as /bin/true).
int main() { return 0; }
