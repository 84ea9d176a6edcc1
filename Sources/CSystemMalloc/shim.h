/* glibc's allocator settings (mallopt), which Swift's Glibc module leaves out: the command-line
 * tool sets them once where it starts; the library never does. */
#include <malloc.h>
