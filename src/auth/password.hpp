// Password hashing and verification with crypt(3) strings (libxcrypt).
//
// New hashes are yescrypt ("$y$", libxcrypt's default cost), the scheme
// Debian itself uses for /etc/shadow. verify_password() also accepts the
// hashes an operator may import from an older system: SHA-512-crypt ("$6$"),
// SHA-256-crypt ("$5$") and bcrypt ("$2b$"). Everything else is refused,
// in particular DES/MD5 crypt and locked or disabled entries ("*", "!...").
//
// Invariants: a plaintext password never leaves this module except to
// crypt_rn(); the crypt output is compared to the stored hash in constant
// time (CRYPTO_memcmp), so timing reveals nothing about how much matched.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tegami {

// Upper bound on a password we are willing to hash (yescrypt and bcrypt cost
// grows with input; bcrypt also silently truncates at 72 bytes).
inline constexpr std::size_t kMaxPasswordLength = 1024;

// Cheap structural check (no hashing): an accepted prefix ($y$ $6$ $5$ $2b$),
// a sane length, no NUL, parameters libxcrypt understands; a locked entry
// ("*", "!...") fails. For storage layers guarding against garbage.
bool has_supported_form(std::string_view hash);

// Full check, for importing a hash (costs one hash computation): as
// has_supported_form(), and the string is a complete hash, not just a
// setting (hashing with it yields a string of the same shape).
bool is_supported_hash(std::string_view hash);

// Hashes `password` with yescrypt and a fresh random salt.
// Errors: permanent for an empty, over-long or NUL-containing password;
// temporary when libxcrypt cannot produce a salt or a hash.
Result<std::string> hash_password(std::string_view password);

// True only when `password` matches `hash` and the hash is supported.
bool verify_password(std::string_view password, std::string_view hash);

}  // namespace tegami
