/* libpng, as a system module. */
#include <png.h>
