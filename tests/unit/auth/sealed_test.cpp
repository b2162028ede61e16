#include "auth/sealed.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/base64.hpp"

namespace tegami {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tegami-auth-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

SecretKey make_key(std::uint8_t fill) {
  std::array<std::uint8_t, kSecretKeySize> b{};
  b.fill(fill);
  return SecretKey(b);
}

TEST(Sealed, RoundTrip) {
  auto key = make_key(7);
  for (std::string secret : {std::string("tanstaaf"), std::string(), std::string(1000, 'x'),
                             std::string("bin\0ary\xff", 8)}) {
    auto s = sealed::seal(key, secret, "alice@example.test");
    ASSERT_TRUE(s) << s.error().message;
    auto raw = base64_decode(*s);
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->size(), 1 + sealed::kNonceSize + secret.size() + sealed::kTagSize);
    EXPECT_EQ(static_cast<unsigned char>((*raw)[0]), sealed::kVersion);
    auto o = sealed::open(key, *s, "alice@example.test");
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(*o, secret);
  }
}

TEST(Sealed, FreshNonceEachTime) {
  auto key = make_key(1);
  auto a = sealed::seal(key, "same", "a@x.test");
  auto b = sealed::seal(key, "same", "a@x.test");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(Sealed, RejectsWrongKeyAadAndTampering) {
  auto key = make_key(2);
  auto s = sealed::seal(key, "tanstaaf", "alice@example.test");
  ASSERT_TRUE(s);
  EXPECT_FALSE(sealed::open(make_key(3), *s, "alice@example.test"));
  EXPECT_FALSE(sealed::open(key, *s, "bob@example.test"));
  EXPECT_FALSE(sealed::open(key, *s, ""));

  auto raw = *base64_decode(*s);
  // Flip one bit in every position: version, nonce, ciphertext, tag.
  for (std::size_t i = 0; i < raw.size(); ++i) {
    std::string t = raw;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    auto r = sealed::open(key, base64_encode(t), "alice@example.test");
    EXPECT_FALSE(r) << "bit flip at byte " << i << " not detected";
    if (!r) {
      EXPECT_FALSE(r.error().temporary);
    }
  }
  // Truncations and garbage.
  for (std::size_t n = 0; n < raw.size(); ++n)
    EXPECT_FALSE(sealed::open(key, base64_encode(raw.substr(0, n)), "alice@example.test")) << n;
  EXPECT_FALSE(sealed::open(key, "not base64!", "alice@example.test"));
  EXPECT_FALSE(sealed::open(key, *s + "AAAA", "alice@example.test"));
}

TEST(KeyFile, CreateAndLoad) {
  TempDir d;
  auto path = d / "secret.key";
  ASSERT_TRUE(create_key_file(path));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto k = load_key_file(path);
  ASSERT_TRUE(k) << k.error().message;
  // The loaded key opens what it sealed; a second key file is different.
  auto s = sealed::seal(*k, "x", "a@b.test");
  ASSERT_TRUE(s);
  EXPECT_TRUE(sealed::open(*load_key_file(path), *s, "a@b.test"));
  ASSERT_TRUE(create_key_file(d / "other.key"));
  EXPECT_FALSE(sealed::open(*load_key_file(d / "other.key"), *s, "a@b.test"));
  // O_EXCL: never overwrite an existing key.
  auto again = create_key_file(path);
  EXPECT_FALSE(again);
}

TEST(KeyFile, LoadRefusesBadFiles) {
  TempDir d;
  auto write = [&](const std::string& name, std::size_t size, mode_t mode) {
    auto p = d / name;
    std::ofstream(p) << std::string(size, 'k');
    ::chmod(p.c_str(), mode);
    return p;
  };
  struct Case {
    std::string path;
    const char* why;
  };
  const Case cases[] = {
      {write("short", 31, 0600), "31 bytes"},
      {write("long", 33, 0600), "33 bytes"},
      {write("empty", 0, 0600), "empty"},
      {write("group", 32, 0640), "group-readable"},
      {write("world", 32, 0604), "world-readable"},
      {write("gwrite", 32, 0620), "group-writable"},
      {d / "missing", "missing"},
  };
  for (const auto& c : cases) {
    auto k = load_key_file(c.path);
    EXPECT_FALSE(k) << c.why;
  }
  ::mkdir((d / "dir").c_str(), 0700);
  EXPECT_FALSE(load_key_file(d / "dir"));
  EXPECT_TRUE(load_key_file(write("good", 32, 0600)));
  EXPECT_TRUE(load_key_file(write("readonly", 32, 0400)));
}

}  // namespace
}  // namespace tegami
