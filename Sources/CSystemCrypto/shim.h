/* OpenSSL's libcrypto: SHA-256 through the EVP interface (SHA extensions where the CPU has them). */
#include <openssl/evp.h>
