#include "app/password_input.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

namespace tegami::cli {

namespace {

void strip_eol(std::string& s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
}

// One line from the terminal `fd`, echo off; the terminal state is restored.
Result<std::string> prompt(int fd, const char* text) {
  termios old{};
  if (::tcgetattr(fd, &old) != 0)
    return fail(Error::perm(std::string("cannot read the terminal: ") + std::strerror(errno)));
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  if (::write(fd, text, std::strlen(text)) < 0 || ::tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
    return fail(Error::perm(std::string("cannot use the terminal: ") + std::strerror(errno)));
  std::string line;
  char c;
  bool got_eol = false;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (c == '\n') {
      got_eol = true;
      break;
    }
    line += c;
  }
  ::tcsetattr(fd, TCSAFLUSH, &old);
  if (!got_eol && line.empty()) return fail(Error::perm("no password entered"));
  strip_eol(line);
  return line;
}

}  // namespace

Result<std::string> read_new_password(bool from_stdin) {
  std::string pw;
  if (from_stdin) {
    if (!std::getline(std::cin, pw)) return fail(Error::perm("no password on standard input"));
    strip_eol(pw);
  } else {
    int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return fail(Error::perm("no terminal to ask for a password; use --password-stdin"));
    auto first = prompt(fd, "Password: ");
    auto second = first ? prompt(fd, "Retype password: ") : first;
    ::close(fd);
    if (!first) return fail(first.error());
    if (!second) return fail(second.error());
    bool same = first->size() == second->size() &&
                CRYPTO_memcmp(first->data(), second->data(), first->size()) == 0;
    OPENSSL_cleanse(second->data(), second->size());
    if (!same) {
      OPENSSL_cleanse(first->data(), first->size());
      return fail(Error::perm("passwords do not match"));
    }
    pw = std::move(*first);
  }
  if (pw.empty()) return fail(Error::perm("empty password"));
  return pw;
}

}  // namespace tegami::cli
