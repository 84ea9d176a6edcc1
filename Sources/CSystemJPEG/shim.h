/* libjpeg-turbo, as a system module. */
#include <stdio.h>
#include <jpeglib.h>
