// Streaming responses (HttpResponse::start_stream), over plain HTTP and over TLS.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http_test_util.h"

namespace annals::http_test {
namespace {

// Collects the streams a handler starts and counts their callbacks. Must outlive the server
// (the callbacks point to it).
class StreamProbe {
 public:
  // Sets the callbacks and records the stream; use as (part of) start_stream.
  void Attach(const std::shared_ptr<ResponseStream>& s, bool set_callbacks = true) {
    if (set_callbacks) {
      s->SetCallbacks(
          [this] {
            std::lock_guard<std::mutex> lock(mu_);
            ++drains_;
          },
          [this] {
            std::lock_guard<std::mutex> lock(mu_);
            ++closes_;
          });
    }
    std::lock_guard<std::mutex> lock(mu_);
    streams_.push_back(s);
  }

  // The `i`th stream started, once it exists (nullptr if it never does).
  std::shared_ptr<ResponseStream> Stream(size_t i = 0) {
    WaitUntil([&] {
      std::lock_guard<std::mutex> lock(mu_);
      return streams_.size() > i;
    });
    std::lock_guard<std::mutex> lock(mu_);
    return streams_.size() > i ? streams_[i] : nullptr;
  }

  int closes() {
    std::lock_guard<std::mutex> lock(mu_);
    return closes_;
  }
  int drains() {
    std::lock_guard<std::mutex> lock(mu_);
    return drains_;
  }
  bool WaitCloses(int n) {
    return WaitUntil([&] { return closes() >= n; });
  }

  HttpHandler Handler() {
    return [this](HttpRequest&&, Responder respond) {
      HttpResponse r;
      r.content_type = "text/event-stream";
      r.headers.emplace_back("Cache-Control", "no-cache");
      r.start_stream = [this](std::shared_ptr<ResponseStream> s) { Attach(s); };
      respond(std::move(r));
    };
  }

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<ResponseStream>> streams_;
  int closes_ = 0;
  int drains_ = 0;
};

constexpr char kGet[] = "GET /v1/stream HTTP/1.1\r\nHost: annals\r\n\r\n";

std::string Event(int i) { return "data: " + std::to_string(i) + "\n\n"; }

// Run with GetParam() false (plain HTTP) and true (HTTPS).
class StreamTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      certs_ = MakeSelfSignedCert(dir_.path(), "server");
      client_tls_ = MakeClientTlsContext(certs_.cert);
    }
  }

  HttpServerOptions Options() const {
    HttpServerOptions o = TestOptions();
    o.tls_cert_file = certs_.cert;
    o.tls_key_file = certs_.key;
    return o;
  }

  std::unique_ptr<Conn> Connect(uint16_t port, int rcvbuf = 0) {
    return Conn::Open(port, client_tls_.get(), rcvbuf);
  }

  std::string Url(uint16_t port) const {
    return std::string(GetParam() ? "https" : "http") + "://localhost:" + std::to_string(port) +
           "/v1/stream";
  }

  TempDir dir_;
  CertFiles certs_;
  std::shared_ptr<SSL_CTX> client_tls_;
};

TEST_P(StreamTest, ChunksArriveInOrderAndCloseCompletesTheBody) {
  StreamProbe probe;
  auto server = StartServer(Options(), probe.Handler());
  ASSERT_TRUE(server);
  auto conn = Connect(server->port());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send(kGet));
  std::shared_ptr<ResponseStream> stream = probe.Stream();
  ASSERT_TRUE(stream);
  EXPECT_EQ(server->open_streams(), 1u);

  std::thread producer([stream] {
    for (int i = 0; i < 200; ++i) {
      EXPECT_TRUE(stream->Write(Event(i)));
      if (i % 50 == 0) {
        EXPECT_TRUE(stream->Write(""));  // sends nothing; must not end the body
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    stream->Close();
  });
  producer.join();
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Write("too late"));

  ASSERT_TRUE(conn->ReadUntilClosed());
  std::optional<Response> r = ParseResponse(conn->data());
  ASSERT_TRUE(r) << conn->data();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Transfer-Encoding").value_or(""), "chunked");
  EXPECT_FALSE(r->Header("Content-Length"));
  EXPECT_EQ(r->Header("Connection").value_or(""), "close");
  EXPECT_EQ(r->Header("Content-Type").value_or(""), "text/event-stream");
  EXPECT_EQ(r->Header("Cache-Control").value_or(""), "no-cache");
  std::vector<std::string> chunks;
  EXPECT_TRUE(DecodeChunked(r->body, &chunks)) << "the body must end with the last chunk";
  ASSERT_EQ(chunks.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(chunks[i], Event(i));
  if (GetParam()) {
    EXPECT_TRUE(conn->got_close_notify());
  }
  conn->Close();

  EXPECT_TRUE(probe.WaitCloses(1));
  EXPECT_TRUE(WaitUntil([&] { return server->open_streams() == 0; }));
  EXPECT_TRUE(WaitUntil([&] { return server->open_connections() == 0; }));
  EXPECT_EQ(probe.closes(), 1);
}

TEST_P(StreamTest, CurlReadsACompleteStreamWrittenInsideStartStream) {
  std::atomic<int> closes{0};
  HttpHandler handler = [&](HttpRequest&&, Responder respond) {
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.start_stream = [&](std::shared_ptr<ResponseStream> s) {
      s->SetCallbacks(nullptr, [&] { closes.fetch_add(1); });
      for (int i = 0; i < 3; ++i) s->Write(Event(i));
      s->Close();
    };
    respond(std::move(r));
  };
  auto server = StartServer(Options(), handler);
  ASSERT_TRUE(server);
  CurlClient curl(certs_.cert);
  CurlResult r = curl.Get(Url(server->port()));
  EXPECT_EQ(r.curl_code, 0) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, Event(0) + Event(1) + Event(2));
  EXPECT_TRUE(WaitUntil([&] { return closes.load() == 1; }));
}

TEST_P(StreamTest, ClientDisconnectEndsTheStream) {
  StreamProbe probe;
  auto server = StartServer(Options(), probe.Handler());
  ASSERT_TRUE(server);
  auto conn = Connect(server->port());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send(kGet));
  std::shared_ptr<ResponseStream> stream = probe.Stream();
  ASSERT_TRUE(stream);
  ASSERT_TRUE(stream->Write("data: hello\n\n"));
  ASSERT_TRUE(conn->ReadUntil("data: hello"));
  EXPECT_EQ(probe.closes(), 0);

  conn->Close();
  ASSERT_TRUE(probe.WaitCloses(1));
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Write("data: nobody listens\n\n"));
  EXPECT_TRUE(WaitUntil([&] { return server->open_streams() == 0; }));
  EXPECT_TRUE(WaitUntil([&] { return server->open_connections() == 0; }));
  EXPECT_EQ(probe.closes(), 1);
}

TEST_P(StreamTest, SlowConsumerIsDisconnectedOnceTheBufferLimitIsPassed) {
  constexpr size_t kLimit = 256 << 10;
  HttpServerOptions options = Options();
  options.max_stream_buffer_bytes = kLimit;
  options.write_timeout = std::chrono::minutes(10);  // only the buffer limit may end it
  StreamProbe probe;
  auto server = StartServer(options, probe.Handler());
  ASSERT_TRUE(server);
  auto conn = Connect(server->port(), /*rcvbuf=*/4096);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send(kGet));  // ... and never read
  std::shared_ptr<ResponseStream> stream = probe.Stream();
  ASSERT_TRUE(stream);

  const std::string chunk(8192, 'x');
  bool refused = false;
  size_t max_seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + kEventually;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!stream->Write(chunk)) {
      refused = true;
      break;
    }
    max_seen = std::max(max_seen, stream->buffered_bytes());
    if (stream->buffered_bytes() > kLimit / 2)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(refused) << "Write kept succeeding while the client read nothing";
  EXPECT_LE(max_seen, kLimit);
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Write("more"));
  ASSERT_TRUE(probe.WaitCloses(1));

  // The client sees its connection end, with an incomplete body.
  ASSERT_TRUE(conn->ReadUntilClosed());
  if (std::optional<Response> r = ParseResponse(conn->data())) {
    std::vector<std::string> chunks;
    EXPECT_FALSE(DecodeChunked(r->body, &chunks));
  }
  EXPECT_TRUE(WaitUntil([&] { return server->open_streams() == 0; }));
  EXPECT_TRUE(WaitUntil([&] { return server->open_connections() == 0; }));
  EXPECT_EQ(probe.closes(), 1);
}

TEST_P(StreamTest, AWriteWithoutProgressForWriteTimeoutEndsTheStream) {
  HttpServerOptions options = Options();
  options.max_stream_buffer_bytes = 256 << 20;  // never reached here
  options.write_timeout = std::chrono::milliseconds(500);
  StreamProbe probe;
  auto server = StartServer(options, probe.Handler());
  ASSERT_TRUE(server);
  auto conn = Connect(server->port(), /*rcvbuf=*/4096);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send(kGet));  // ... and never read
  std::shared_ptr<ResponseStream> stream = probe.Stream();
  ASSERT_TRUE(stream);

  // Keep about 1 MiB queued (far below the limit) until the stream ends: once the socket
  // buffers are full the server's write makes no progress, and only write_timeout ends it.
  const std::string chunk(64 << 10, 'x');
  size_t max_seen = 0;
  const bool ended = WaitUntil([&] {
    if (probe.closes() > 0) return true;
    if (stream->buffered_bytes() < (1u << 20)) stream->Write(chunk);
    max_seen = std::max(max_seen, stream->buffered_bytes());
    return false;
  });
  ASSERT_TRUE(ended) << "a stalled write must end the stream";
  EXPECT_LT(max_seen, options.max_stream_buffer_bytes);
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Write("more"));
  EXPECT_TRUE(WaitUntil([&] { return server->open_connections() == 0; }));
}

TEST_P(StreamTest, IdleAndReadTimeoutsDoNotApplyWhileStreaming) {
  HttpServerOptions options = Options();
  options.read_timeout = std::chrono::milliseconds(200);
  options.idle_timeout = std::chrono::milliseconds(200);
  StreamProbe probe;
  auto server = StartServer(options, probe.Handler());
  ASSERT_TRUE(server);
  auto conn = Connect(server->port());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send(kGet));
  std::shared_ptr<ResponseStream> stream = probe.Stream();
  ASSERT_TRUE(stream);
  ASSERT_TRUE(stream->Write(Event(1)));
  ASSERT_TRUE(conn->ReadUntil(Event(1)));
  // Several times both timeouts without a byte either way.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(probe.closes(), 0);
  EXPECT_FALSE(stream->closed());
  ASSERT_TRUE(stream->Write(Event(2)));
  stream->Close();
  ASSERT_TRUE(conn->ReadUntilClosed());
  std::optional<Response> r = ParseResponse(conn->data());
  ASSERT_TRUE(r);
  std::vector<std::string> chunks;
  EXPECT_TRUE(DecodeChunked(r->body, &chunks));
  EXPECT_EQ(chunks, (std::vector<std::string>{Event(1), Event(2)}));
  EXPECT_TRUE(probe.WaitCloses(1));
}

TEST_P(StreamTest, OnDrainRunsWhenTheQueueEmpties) {
  StreamProbe probe;
  auto server = StartServer(Options(), probe.Handler());
  ASSERT_TRUE(server);
  auto conn = Connect(server->port());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send(kGet));
  std::shared_ptr<ResponseStream> stream = probe.Stream();
  ASSERT_TRUE(stream);
  ASSERT_TRUE(stream->Write(Event(7)));
  EXPECT_TRUE(WaitUntil([&] { return probe.drains() >= 1; }));
  EXPECT_EQ(stream->buffered_bytes(), 0u);
  ASSERT_TRUE(conn->ReadUntil(Event(7)));
}

TEST_P(StreamTest, StopEndsEveryOpenStream) {
  StreamProbe probe;
  auto server = StartServer(Options(), probe.Handler());
  ASSERT_TRUE(server);
  // One after the other, so that stream 0 is a's and stream 1 is b's.
  auto a = Connect(server->port());
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->Send(kGet));
  std::shared_ptr<ResponseStream> sa = probe.Stream(0);
  ASSERT_TRUE(sa);
  auto b = Connect(server->port());
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->Send(kGet));
  std::shared_ptr<ResponseStream> sb = probe.Stream(1);
  ASSERT_TRUE(sb);
  EXPECT_EQ(server->open_streams(), 2u);

  // A producer that keeps writing until its stream refuses (or the test gives up).
  std::atomic<bool> give_up{false};
  std::thread producer([sa, &give_up] {
    for (int i = 0; !give_up.load() && sa->Write(Event(i)); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  struct Joiner {
    std::atomic<bool>& give_up;
    std::thread& t;
    ~Joiner() {
      give_up.store(true);
      if (t.joinable()) t.join();
    }
  } joiner{give_up, producer};
  ASSERT_TRUE(a->ReadUntil(Event(3)));

  server->Stop(std::chrono::milliseconds(1000));
  producer.join();  // ends because Stop ended the stream
  EXPECT_EQ(probe.closes(), 2);
  EXPECT_TRUE(sa->closed());
  EXPECT_TRUE(sb->closed());
  EXPECT_FALSE(sb->Write("after stop"));
  EXPECT_EQ(server->open_streams(), 0u);

  for (Conn* c : {a.get(), b.get()}) {
    EXPECT_TRUE(c->ReadUntilClosed());
    std::optional<Response> r = ParseResponse(c->data());
    ASSERT_TRUE(r);
    std::vector<std::string> chunks;
    EXPECT_FALSE(DecodeChunked(r->body, &chunks)) << "a stopped stream is not a complete body";
  }
}

TEST_P(StreamTest, CallbacksSetAfterTheEndStillGetOnClose) {
  StreamProbe probe;
  HttpHandler handler = [&](HttpRequest&&, Responder respond) {
    HttpResponse r;
    r.start_stream = [&](std::shared_ptr<ResponseStream> s) { probe.Attach(s, false); };
    respond(std::move(r));
  };
  auto server = StartServer(Options(), handler);
  ASSERT_TRUE(server);
  auto conn = Connect(server->port());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send(kGet));
  std::shared_ptr<ResponseStream> stream = probe.Stream();
  ASSERT_TRUE(stream);
  conn->Close();
  ASSERT_TRUE(WaitUntil([&] { return stream->closed(); }));
  int closes = 0;
  stream->SetCallbacks(nullptr, [&] { ++closes; });
  EXPECT_EQ(closes, 1);
  stream->SetCallbacks(nullptr, [&] { ++closes; });
  EXPECT_EQ(closes, 1) << "on_close runs once per stream";
}

TEST_P(StreamTest, Http10ClientGetsAnUnchunkedBodyEndedByTheClose) {
  StreamProbe probe;
  auto server = StartServer(Options(), probe.Handler());
  ASSERT_TRUE(server);
  auto conn = Connect(server->port());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send("GET /v1/stream HTTP/1.0\r\n\r\n"));
  std::shared_ptr<ResponseStream> stream = probe.Stream();
  ASSERT_TRUE(stream);
  ASSERT_TRUE(stream->Write("abc"));
  ASSERT_TRUE(stream->Write("def"));
  stream->Close();
  ASSERT_TRUE(conn->ReadUntilClosed());
  std::optional<Response> r = ParseResponse(conn->data());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->Header("Transfer-Encoding"));
  EXPECT_FALSE(r->Header("Content-Length"));
  EXPECT_EQ(r->body, "abcdef");
  EXPECT_TRUE(probe.WaitCloses(1));
}

INSTANTIATE_TEST_SUITE_P(PlainAndTls, StreamTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tls" : "Plain";
                         });

}  // namespace
}  // namespace annals::http_test
