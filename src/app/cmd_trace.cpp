#include "app/cmd_trace.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/cli.hpp"
#include "core/config.hpp"
#include "mail/ascii.hpp"
#include "mail/header.hpp"
#include "mail/header_address.hpp"
#include "mailauth/spf.hpp"
#include "net/asio.hpp"
#include "net/dns_resolver.hpp"
#include "server/spf_check.hpp"
#include "trace/input.hpp"
#include "trace/render.hpp"
#include "trace/report.hpp"

namespace tegami {

namespace {

void write_out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
}

// Local domains from the directory, read-only, straight from SQLite: the
// trace layer must not depend on the store layer, and a read-only open
// cannot disturb a running server (WAL readers do not block writers).
Result<std::vector<std::string>> read_local_domains(const std::string& db_path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return fail(Error::perm("cannot open " + db_path + ": " + msg));
  }
  std::vector<std::string> out;
  sqlite3_stmt* st = nullptr;
  rc = sqlite3_prepare_v2(db, "SELECT name FROM domains ORDER BY name", -1, &st, nullptr);
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      if (t) out.emplace_back(reinterpret_cast<const char*>(t));
    }
  }
  std::string msg = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (rc != SQLITE_DONE)
    return fail(Error::perm("cannot read domains from " + db_path + ": " + msg));
  return out;
}

// Issue 17: without --offline, and when no trusted Authentication-Results
// told it, SPF is checked now for the origin hop: the Return-Path domain
// (postmaster@HELO for <>) from the origin's address. Today's DNS, not the
// DNS of the day the message was sent: the note says so.
void check_spf_now(trace::Report& r, const mail::MessageHeader& header,
                   const std::vector<std::string>& servers) {
  if (r.auth.spf != "not_checked" || !r.origin || r.origin->hop < 1 ||
      static_cast<std::size_t>(r.origin->hop) > r.hops.size())
    return;
  std::error_code bad;
  auto ip = asio::ip::make_address(r.origin->ip, bad);
  if (bad) return;
  const auto* rp = header.find("Return-Path");
  if (rp == nullptr) return;
  const std::string sender = mail::first_address(rp->value).addr_spec;
  const std::string& helo = r.hops[static_cast<std::size_t>(r.origin->hop) - 1].rx.helo;
  if (sender.empty() && helo.empty()) return;
  const auto now = std::chrono::system_clock::now();
  auto query = mailauth::SpfQuery::mail_from(
      server::spf_address(ip), sender, helo, "tegami-trace",
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  asio::io_context ioc;
  auto strand = asio::make_strand(ioc);
  auto resolver = net::DnsResolver::create(strand, servers);
  if (!resolver) {
    r.notes.push_back("SPF not checked: " + resolver.error().message);
    return;
  }
  std::optional<mailauth::SpfOutcome> outcome;
  asio::co_spawn(
      strand,
      [&]() -> net::awaitable<void> {
        outcome = co_await server::check_spf(
            **resolver, query, std::chrono::steady_clock::now() + server::kSpfCheckTimeout);
      },
      asio::detached);
  ioc.run();
  resolver->reset();
  if (!outcome) return;
  r.auth.spf = std::string(mailauth::to_string(outcome->result));
  r.notes.push_back(
      "SPF checked now by tegami trace (today's DNS, not the DNS of the day it was "
      "sent): spf=" +
      r.auth.spf + " for " + query.domain + " from " + r.origin->ip +
      (outcome->problem.empty() ? std::string() : " (" + outcome->problem + ")"));
}

}  // namespace

int run_trace(int argc, char** argv) {
  CLI::App app{"Explain a message's route from its Received: headers", "tegami trace"};
  std::string input = "-";
  std::string format = "text";
  std::vector<std::string> own_domains, own_relays, authserv_ids;
  std::string config_path;
  bool offline = false;
  app.add_option("input", input, "message file, mbox, Maildir folder, or - for stdin");
  app.add_option("--format", format, "text, json, jsonl or html")
      ->check(CLI::IsMember({"text", "json", "jsonl", "html"}));
  app.add_option("--own-domain", own_domains, "a domain of ours (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--own-relay", own_relays, "a host glob or CIDR of our relays (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--trust-authserv-id", authserv_ids,
                 "trust Authentication-Results with this authserv-id (repeatable)")
      ->allow_extra_args(false);
  app.add_flag("--offline", offline,
               "no network access: no SPF check of the origin hop now (bulk input never checks)");
  app.add_option("-c,--config", config_path, "server configuration: default own domains/relays")
      ->envname("TEGAMI_CONFIG");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cli::kExitUsage;
  }

  std::vector<std::string> dns_servers;  // [dns] servers of -c CONF; none: the system's
  trace::Options opts;
  for (const auto& d : own_domains) opts.own.add_domain(d);
  for (const auto& r : own_relays) opts.own.add_relay(r);
  for (const auto& id : authserv_ids) opts.trusted_authserv_ids.push_back(mail::to_lower(id));
  if (!config_path.empty()) {
    auto cfg = load_config(config_path);
    if (!cfg) {
      std::cerr << "tegami trace: " << cfg.error().message << "\n";
      return cli::kExitError;
    }
    dns_servers = cfg->dns_servers;
    if (own_relays.empty()) {
      opts.own.add_relay(cfg->hostname);
      for (const auto& net : cfg->trusted_networks) opts.own.add_network(net);
    }
    if (authserv_ids.empty()) opts.trusted_authserv_ids.push_back(mail::to_lower(cfg->hostname));
    if (own_domains.empty()) {
      auto domains = read_local_domains(cfg->directory_path());
      if (!domains) {
        std::cerr << "tegami trace: " << domains.error().message
                  << " (continuing without local domains)\n";
      } else {
        for (const auto& d : *domains) opts.own.add_domain(d);
      }
    }
  }

  std::vector<trace::Traced> collected;  // json and html need every message first
  bool bulk = false;
  bool first = true;
  trace::TextOptions text_opts;
  // text and jsonl render each message on its own: a batch of messages is
  // analysed on every core, then written in input order (issue 16: bulk
  // mode in one process). analyze() and the renderers are pure.
  const bool streamed = format == "text" || format == "jsonl";
  const unsigned threads = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
  constexpr std::size_t kBatch = 512;
  std::vector<trace::InputMessage> batch, working;
  std::vector<std::string> rendered;
  std::vector<std::thread> pool;  // rendering `working` while `batch` is read
  auto render_one = [&](trace::InputMessage& m) {
    trace::Traced t;
    t.source = bulk ? m.source : "";
    {
      const auto header = mail::parse_header(m.data);
      t.report = trace::analyze(header, opts);
      if (!offline && !bulk) check_spf_now(t.report, header, dns_servers);
    }
    if (format == "text") return trace::render_text(t, text_opts);
    if (t.source.empty()) t.source = m.source;
    std::string line;
    trace::append_jsonl(line, t.report, t.source);
    return line;
  };
  // Waits for the batch being rendered and writes it, in input order.
  auto finish = [&] {
    for (auto& th : pool) th.join();
    pool.clear();
    for (const auto& r : rendered) {
      if (format == "text" && !first) write_out("\n");
      write_out(r);
      first = false;
    }
    rendered.clear();
    working.clear();
  };
  auto drain = [&] {
    finish();
    working.swap(batch);
    rendered.assign(working.size(), std::string());
    for (unsigned k = 0; k < threads; ++k)
      pool.emplace_back([&, k] {
        for (std::size_t i = k; i < working.size(); i += threads)
          rendered[i] = render_one(working[i]);
      });
  };
  auto result = trace::read_messages(
      input, [&](const trace::InputInfo& info) { bulk = info.bulk; },
      [&](trace::InputMessage&& m) {
        if (streamed) {
          batch.push_back(std::move(m));
          if (batch.size() >= kBatch) drain();
          return;
        }
        trace::Traced t;
        t.source = bulk ? m.source : "";
        const auto header = mail::parse_header(m.data);
        t.report = trace::analyze(header, opts);
        if (!offline && !bulk) check_spf_now(t.report, header, dns_servers);
        collected.push_back(std::move(t));
      });
  if (streamed) {  // what was read before the end (or an error)
    drain();
    finish();
  }
  if (!result) {
    std::fflush(stdout);
    std::cerr << "tegami trace: " << result.error().message << "\n";
    return cli::kExitError;
  }
  if (format == "json") write_out(trace::render_json(collected, bulk));
  if (format == "html") write_out(trace::render_html(collected));
  std::fflush(stdout);
  return cli::kExitOk;
}

}  // namespace tegami
