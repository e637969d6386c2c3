package dev.informerd.client;

import informer.v1.Informer.ByIndexRequest;
import informer.v1.Informer.ByIndexResponse;
import informer.v1.Informer.EventType;
import informer.v1.Informer.GetRequest;
import informer.v1.Informer.GetResponse;
import informer.v1.Informer.ListRequest;
import informer.v1.Informer.ListResponse;
import informer.v1.Informer.Object;
import informer.v1.Informer.SubscribeRequest;
import informer.v1.Informer.SubscribeResponse;
import informer.v1.InformerServiceGrpc;
import io.grpc.ForwardingServerCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * An in-process informerd whose test scripts each call: Subscribe calls queue up as {@link
 * Stream}s the test answers event by event and ends with a status and trailers; List, ByIndex
 * and Get answer from a function the test sets.
 */
final class FakeInformerd implements AutoCloseable {
  /** One Subscribe call the test drives. */
  static final class Stream {
    final SubscribeRequest request;
    final ServerCallStreamObserver<SubscribeResponse> observer;

    Stream(SubscribeRequest request, StreamObserver<SubscribeResponse> observer) {
      this.request = request;
      this.observer = (ServerCallStreamObserver<SubscribeResponse>) observer;
    }

    Stream send(EventType type, Object obj, String rv) {
      SubscribeResponse.Builder b = SubscribeResponse.newBuilder().setType(type)
          .setResourceVersion(rv);
      if (obj != null) b.setObject(obj);
      observer.onNext(b.build());
      return this;
    }

    Stream added(String ns, String name, String rv) {
      return send(EventType.EVENT_TYPE_ADDED, obj(ns, name, rv), rv);
    }

    Stream modified(String ns, String name, String rv) {
      return send(EventType.EVENT_TYPE_MODIFIED, obj(ns, name, rv), rv);
    }

    Stream deleted(String ns, String name, String rv) {
      return send(EventType.EVENT_TYPE_DELETED, obj(ns, name, rv), rv);
    }

    Stream deletedUnknown(String ns, String name, String rv, String streamRv) {
      observer.onNext(SubscribeResponse.newBuilder().setType(EventType.EVENT_TYPE_DELETED)
          .setObject(obj(ns, name, rv)).setFinalStateUnknown(true).setResourceVersion(streamRv)
          .build());
      return this;
    }

    Stream synced(String rv) {
      return send(EventType.EVENT_TYPE_SYNCED, null, rv);
    }

    Stream bookmark(String rv) {
      return send(EventType.EVENT_TYPE_BOOKMARK, null, rv);
    }

    /** Ends the stream with status; resumeRv (may be null) as the resume trailer. */
    void end(Status status, String resumeRv) {
      Metadata trailers = new Metadata();
      if (resumeRv != null) trailers.put(Informer.RESUME_TRAILER, resumeRv);
      observer.onError(status.asRuntimeException(trailers));
    }

    boolean cancelled() {
      return observer.isCancelled();
    }
  }

  static Object obj(String ns, String name, String rv) {
    return Object.newBuilder().setNamespace(ns).setName(name).setUid("uid-" + name)
        .setResourceVersion(rv)
        .setJson("{\"metadata\":{\"namespace\":\"" + ns + "\",\"name\":\"" + name
            + "\",\"resourceVersion\":\"" + rv + "\"}}")
        .build();
  }

  final BlockingQueue<Stream> streams = new LinkedBlockingQueue<>();
  /** The authorization header of each Subscribe call, in order ("" when absent). */
  final List<String> authorizations = java.util.Collections.synchronizedList(new ArrayList<>());
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  final List<ListRequest> listRequests = new ArrayList<>();
  volatile Function<ListRequest, ListResponse> list;
  volatile Function<ByIndexRequest, ByIndexResponse> byIndex;
  volatile Function<GetRequest, GetResponse> get;
  /** Sent as informer-bookmark-interval-ms in each Subscribe's initial metadata when set. */
  volatile String bookmarkIntervalMs;

  private final String name;
  private final Server server;

  FakeInformerd() throws IOException {
    name = InProcessServerBuilder.generateName();
    InformerServiceGrpc.InformerServiceImplBase impl = new InformerServiceGrpc.InformerServiceImplBase() {
      @Override
      public void subscribe(SubscribeRequest req, StreamObserver<SubscribeResponse> obs) {
        streams.add(new Stream(req, obs));
      }

      @Override
      public void list(ListRequest req, StreamObserver<ListResponse> obs) {
        synchronized (listRequests) {
          listRequests.add(req);
        }
        answer(() -> list.apply(req), obs);
      }

      @Override
      public void byIndex(ByIndexRequest req, StreamObserver<ByIndexResponse> obs) {
        answer(() -> byIndex.apply(req), obs);
      }

      @Override
      public void get(GetRequest req, StreamObserver<GetResponse> obs) {
        answer(() -> get.apply(req), obs);
      }
    };
    ServerInterceptor headers = new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata md,
          ServerCallHandler<Q, R> next) {
        if (call.getMethodDescriptor().getBareMethodName().equals("Subscribe")) {
          String auth = md.get(AUTHORIZATION);
          authorizations.add(auth == null ? "" : auth);
        }
        return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
          @Override
          public void sendHeaders(Metadata h) {
            String v = bookmarkIntervalMs;
            if (v != null) h.put(Informer.BOOKMARK_INTERVAL_HEADER, v);
            super.sendHeaders(h);
          }
        }, md);
      }
    };
    server = InProcessServerBuilder.forName(name).directExecutor()
        .addService(ServerInterceptors.intercept(impl, headers)).build().start();
  }

  private static <T> void answer(java.util.function.Supplier<T> f, StreamObserver<T> obs) {
    try {
      obs.onNext(f.get());
      obs.onCompleted();
    } catch (io.grpc.StatusRuntimeException e) {
      obs.onError(e);
    }
  }

  ManagedChannel channel() {
    return InProcessChannelBuilder.forName(name).directExecutor().build();
  }

  /** The next Subscribe call, waiting up to 10 s. */
  Stream nextStream() throws InterruptedException {
    Stream s = streams.poll(10, TimeUnit.SECONDS);
    if (s == null) throw new AssertionError("no Subscribe call within 10 s");
    return s;
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(5, TimeUnit.SECONDS);
  }
}
