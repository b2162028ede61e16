// DkimKeyStore: layout, modes, refusal to overwrite, list, zone-file line.
#include "dkim/dkim_key_store.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

namespace tegami::dkim {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tegami-dkim-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

int mode_of(const std::string& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(DkimKeyStore, CreateListRefuse) {
  TempDir t;
  DkimKeyStore store(t.path + "/dkim");
  auto ed = store.create("Example.COM", "s1", DkimKeyType::kEd25519);
  ASSERT_TRUE(ed) << ed.error().message;
  EXPECT_EQ(ed->path, t.path + "/dkim/example.com/s1.ed25519.pem");
  EXPECT_EQ(mode_of(ed->path), 0600);
  EXPECT_EQ(mode_of(t.path + "/dkim"), 0700);
  EXPECT_EQ(mode_of(t.path + "/dkim/example.com"), 0700);

  auto again = store.create("example.com", "s1", DkimKeyType::kRsa);
  ASSERT_FALSE(again);
  EXPECT_FALSE(again.error().temporary);
  EXPECT_NE(again.error().message.find("exists already"), std::string::npos);

  auto rsa = store.create("example.com", "s2", DkimKeyType::kRsa, 1024);
  ASSERT_TRUE(rsa);
  auto list = store.list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].selector, "s1");
  EXPECT_EQ((*list)[0].key.type(), DkimKeyType::kEd25519);
  EXPECT_EQ((*list)[1].selector, "s2");
  EXPECT_EQ((*list)[1].key.bits(), 1024);
  EXPECT_EQ(*(*list)[0].key.txt_record(), *ed->key.txt_record());
  for (const auto& e : std::filesystem::directory_iterator(t.path + "/dkim/example.com"))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "no temporary left";

  EXPECT_FALSE(store.create("bad/domain", "s", DkimKeyType::kEd25519));
  EXPECT_FALSE(store.create("example.com", "../x", DkimKeyType::kEd25519));
}

TEST(DkimKeyStore, ZoneLineSplitsAt255) {
  TempDir t;
  DkimKeyStore store(t.path);
  auto k = store.create("example.com", "tegami202612", DkimKeyType::kRsa, 2048);
  ASSERT_TRUE(k);
  auto line = zone_file_record(*k);
  ASSERT_TRUE(line);
  EXPECT_EQ(line->rfind("tegami202612._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p=", 0),
            0u)
      << *line;
  // Strings of at most 255 octets that join to the record.
  std::string joined;
  std::size_t pos = 0, strings = 0;
  while ((pos = line->find('"', pos)) != std::string::npos) {
    auto end = line->find('"', pos + 1);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - pos - 1, 255u);
    joined += line->substr(pos + 1, end - pos - 1);
    pos = end + 1;
    ++strings;
  }
  EXPECT_GE(strings, 2u);
  EXPECT_EQ(joined, *k->key.txt_record());
}

TEST(DkimKeyStore, DefaultSelectorIsDated) {
  auto t = std::chrono::system_clock::from_time_t(1796256000);  // 2026-12-03 UTC
  EXPECT_EQ(DkimKeyStore::default_selector(t), "tegami202612");
}

}  // namespace
}  // namespace tegami::dkim
