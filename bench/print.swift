// The Swift floor for `make bench`: a static binary that prints READY and waits for end of
// input, to compare start-up time and resident memory with.
import Glibc

print("READY")
fflush(stdout)
while getchar() != EOF {}
