package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// demo.Echo, declared without protoc; every message is a google.protobuf.StringValue.
//   Say     unary: "hello <v>", or the error a word names (failWords)
//   List    server streaming: "<n>" items, "<n>:<word>" fails after them
//   Collect client streaming: counts the items; an item "bad" fails the call
//   Chat    bidi: echoes each message; a word of failWords fails the call
var failWords = map[string]codes.Code{
	"invalid":     codes.InvalidArgument,
	"notfound":    codes.NotFound,
	"denied":      codes.PermissionDenied,
	"exhausted":   codes.ResourceExhausted,
	"internal":    codes.Internal,
	"unavailable": codes.Unavailable,
	"dataloss":    codes.DataLoss,
}

func say(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	if c, ok := failWords[in.Value]; ok {
		return nil, status.Error(c, "failing as asked: "+in.Value)
	}
	return wrapperspb.String("hello " + in.Value), nil
}

func list(_ any, s grpc.ServerStream) error {
	in := new(wrapperspb.StringValue)
	if err := s.RecvMsg(in); err != nil {
		return err
	}
	n, word, _ := strings.Cut(in.Value, ":")
	count, err := strconv.Atoi(n)
	if err != nil {
		return status.Error(codes.InvalidArgument, "not a count: "+n)
	}
	for i := 0; i < count; i++ {
		if err := s.SendMsg(wrapperspb.String(fmt.Sprintf("item %d", i))); err != nil {
			return err
		}
	}
	if word != "" {
		return status.Error(failWords[word], "failing after the items: "+word)
	}
	return nil
}

func collect(_ any, s grpc.ServerStream) error {
	items := 0
	for {
		in := new(wrapperspb.StringValue)
		err := s.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return s.SendMsg(wrapperspb.String(fmt.Sprintf("%d items", items)))
		}
		if err != nil {
			return err
		}
		if in.Value == "bad" {
			return status.Error(codes.InvalidArgument, "a bad item")
		}
		items++
	}
}

func chat(_ any, s grpc.ServerStream) error {
	for {
		in := new(wrapperspb.StringValue)
		err := s.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if c, ok := failWords[in.Value]; ok {
			return status.Error(c, "chat failing as asked")
		}
		if err := s.SendMsg(wrapperspb.String("echo " + in.Value)); err != nil {
			return err
		}
	}
}

var echoService = grpc.ServiceDesc{
	ServiceName: "demo.Echo",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Say", Handler: say}},
	Streams: []grpc.StreamDesc{
		{StreamName: "List", Handler: list, ServerStreams: true},
		{StreamName: "Collect", Handler: collect, ClientStreams: true},
		{StreamName: "Chat", Handler: chat, ServerStreams: true, ClientStreams: true},
	},
}

func grpcServer(certDir string) {
	var opts []grpc.ServerOption
	if certDir != "" {
		opts = append(opts, grpc.Creds(credentials.NewTLS(serverTLS(certDir))))
	}
	s := grpc.NewServer(opts...)
	s.RegisterService(&echoService, nil)
	must(s.Serve(listen()))
}

// grpcClass is the error class the l7 probe documents for a grpc-status (http2.ts): the HTTP
// status gRPC's own mapping gives the code, 4xx client, 5xx server.
func grpcClass(err error) errClass {
	switch status.Code(err) {
	case codes.OK:
		return noErr
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.ResourceExhausted, codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.Unauthenticated:
		return clientErr
	default:
		return serverErr
	}
}

// connCounter counts the client's transport connections.
type connCounter struct{ t *tally }

func (c connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (c connCounter) HandleRPC(context.Context, stats.RPCStats)                         {}
func (c connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (c connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnBegin); ok {
		c.t.connected()
	}
}

// grpcClient makes, over one connection and from 4 goroutines at once, unary calls (a third
// of them failing with client- and server-class codes), server-streaming calls (some failing
// after their items), client-streaming calls (one failing mid-way), bidi calls (one failing)
// and a call to a method the server does not have (UNIMPLEMENTED).
func grpcClient(addr, certDir string) {
	t := newTally()
	creds := insecure.NewCredentials()
	if certDir != "" {
		creds = credentials.NewTLS(&tls.Config{RootCAs: certPool(certDir), ServerName: "127.0.0.1"})
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithStatsHandler(connCounter{t}))
	must(err)
	ctx := context.Background()
	words := []string{"world", "invalid", "there", "internal", "you", "notfound", "all", "unavailable", "denied", "exhausted", "dataloss", "again"}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i, w := range words {
				start := time.Now()
				err := conn.Invoke(ctx, "/demo.Echo/Say", wrapperspb.String(w), new(wrapperspb.StringValue))
				t.add("/demo.Echo/Say", grpcClass(err), start)
				if i%3 == 0 {
					callList(ctx, conn, t, strconv.Itoa(2+g+i))
				}
			}
			callList(ctx, conn, t, "3:internal")
			callList(ctx, conn, t, "1:denied")
			callCollect(ctx, conn, t, []string{"a", "b", "c", strings.Repeat("x", 5000)})
			callCollect(ctx, conn, t, []string{"a", "bad", "c"})
			callChat(ctx, conn, t, []string{"x", "y", "z", "w"})
			callChat(ctx, conn, t, []string{"x", "invalid"})
			start := time.Now()
			err := conn.Invoke(ctx, "/demo.Echo/Nope", wrapperspb.String("?"), new(wrapperspb.StringValue))
			t.add("/demo.Echo/Nope", grpcClass(err), start)
		}(g)
	}
	wg.Wait()
	must(conn.Close())
	t.print()
}

func callList(ctx context.Context, conn *grpc.ClientConn, t *tally, arg string) {
	start := time.Now()
	s, err := conn.NewStream(ctx, &echoService.Streams[0], "/demo.Echo/List")
	if err == nil {
		err = s.SendMsg(wrapperspb.String(arg))
	}
	if err == nil {
		err = s.CloseSend()
	}
	for err == nil {
		err = s.RecvMsg(new(wrapperspb.StringValue))
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	t.add("/demo.Echo/List", grpcClass(err), start)
}

func callCollect(ctx context.Context, conn *grpc.ClientConn, t *tally, items []string) {
	start := time.Now()
	s, err := conn.NewStream(ctx, &echoService.Streams[1], "/demo.Echo/Collect")
	for _, it := range items {
		if err == nil {
			err = s.SendMsg(wrapperspb.String(it))
		}
	}
	// A send failing with io.EOF means the server ended the call: RecvMsg gives its status.
	if err == nil || errors.Is(err, io.EOF) {
		err = s.CloseSend()
	}
	if err == nil {
		err = s.RecvMsg(new(wrapperspb.StringValue))
	}
	t.add("/demo.Echo/Collect", grpcClass(err), start)
}

func callChat(ctx context.Context, conn *grpc.ClientConn, t *tally, items []string) {
	start := time.Now()
	s, err := conn.NewStream(ctx, &echoService.Streams[2], "/demo.Echo/Chat")
	for _, it := range items {
		if err == nil {
			err = s.SendMsg(wrapperspb.String(it))
		}
		if err == nil {
			err = s.RecvMsg(new(wrapperspb.StringValue))
		}
	}
	if err == nil {
		err = s.CloseSend()
	}
	for err == nil {
		err = s.RecvMsg(new(wrapperspb.StringValue))
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	t.add("/demo.Echo/Chat", grpcClass(err), start)
}
