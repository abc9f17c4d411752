// `annals serve` with [server] tls_cert / tls_key: HTTPS only on the main listener, plain
// HTTP on the operations listener, and clear start-up errors for a bad TLS configuration.
#include <gtest/gtest.h>

#include <regex>

#include "harness.h"

namespace annals::testing {
namespace {

// A self-signed certificate for 127.0.0.1 made with the openssl command.
bool MakeCertificate(const std::filesystem::path& dir) {
  CommandResult r = RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                                "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                                "-keyout", (dir / "key.pem").string(), "-out",
                                (dir / "cert.pem").string()});
  return r.exit_code == 0;
}

TEST(TlsServeTest, ServesHttpsWithTheConfiguredCertificate) {
  TempDir dir, certs;
  ASSERT_TRUE(MakeCertificate(certs.path()));
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path(), {},
                           {{"ANNALS_ADMIN_KEY", kAdminKey},
                            {"ANNALS_SERVER_TLS_CERT", (certs.path() / "cert.pem").string()},
                            {"ANNALS_SERVER_TLS_KEY", (certs.path() / "key.pem").string()},
                            {"ANNALS_SERVER_OPS_LISTEN", "127.0.0.1:0"}}))
      << server.StderrText();
  ASSERT_EQ(server.url().rfind("https://", 0), 0u) << server.url();
  const std::string ca = (certs.path() / "cert.pem").string();
  CommandResult r = RunCommand({"/usr/bin/curl", "-sS", "--cacert", ca, "-X", "POST", "-H",
                                std::string("Authorization: Bearer ") + kAdminKey, "-H",
                                "Content-Type: application/json", "-d", R"({"id":"org_tls"})",
                                "-w", "\n%{http_code}", server.url() + "/v1/orgs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"id\":\"org_tls\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(r.out.rfind('\n') + 1), "201");
  // Without trusting the certificate, clients refuse it; plain HTTP gets no answer.
  EXPECT_NE(RunCommand({"/usr/bin/curl", "-sS", server.url() + "/healthz"}).exit_code, 0);
  CommandResult plain = RunCommand({"/usr/bin/curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w",
                                    "%{http_code}",
                                    "http://127.0.0.1:" + std::to_string(server.port()) + "/healthz"});
  EXPECT_NE(plain.out, "200");
  // The CLI verifies the server with --cacert (or ANNALS_CACERT), and refuses it without.
  const std::map<std::string, std::string> cli_env = {{"ANNALS_SERVER", server.url()},
                                                      {"ANNALS_KEY", kAdminKey}};
  CommandResult cli = RunCommand({"annals", "orgs", "get", "org_tls", "--cacert", ca}, cli_env);
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("org_tls"), std::string::npos) << cli.out;
  std::map<std::string, std::string> env_ca = cli_env;
  env_ca["ANNALS_CACERT"] = ca;
  EXPECT_EQ(RunCommand({"annals", "orgs"}, env_ca).exit_code, 0);
  cli = RunCommand({"annals", "orgs"}, cli_env);
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.err.find("annals: "), std::string::npos);
  EXPECT_EQ(RunCommand({"annals", "orgs", "--cacert", "/nonexistent.pem"}, cli_env).exit_code, 2);
  // The operations listener stays plain HTTP.
  std::smatch m;
  const std::string log = server.StderrText();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("operations endpoints on http://127.0.0.1:([0-9]+)")));
  CommandResult ops = RunCommand({"/usr/bin/curl", "-sS", "http://127.0.0.1:" + m[1].str() + "/healthz"});
  EXPECT_EQ(ops.exit_code, 0) << ops.err;
  EXPECT_NE(ops.out.find("ok"), std::string::npos);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(TlsServeTest, BadTlsConfigurationIsRefusedAtStart) {
  TempDir dir, certs;
  ASSERT_TRUE(MakeCertificate(certs.path()));
  struct Case {
    std::map<std::string, std::string> env;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {{{"ANNALS_SERVER_TLS_CERT", (certs.path() / "cert.pem").string()}}, "tls"},
           {{{"ANNALS_SERVER_TLS_CERT", (certs.path() / "cert.pem").string()},
             {"ANNALS_SERVER_TLS_KEY", (certs.path() / "missing.pem").string()}},
            "missing.pem"},
       }) {
    std::map<std::string, std::string> env = c.env;
    env["ANNALS_ADMIN_KEY"] = kAdminKey;
    CommandResult r = RunCommand({ANNALS_BINARY, "serve", "--data", dir.path().string(),
                                  "--listen", "127.0.0.1:0"},
                                 env);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(c.names), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace annals::testing
