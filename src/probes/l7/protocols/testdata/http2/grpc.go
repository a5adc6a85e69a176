package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The service is declared by hand (no protoc): demo.Echo with one method of each kind,
// messages are google.protobuf.StringValue.
type echoServer struct{}

var failures = map[string]codes.Code{
	"invalid":     codes.InvalidArgument,
	"notfound":    codes.NotFound,
	"denied":      codes.PermissionDenied,
	"internal":    codes.Internal,
	"unavailable": codes.Unavailable,
}

func sayHandler(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	if c, bad := failures[in.Value]; bad {
		return nil, status.Error(c, "asked to fail: "+in.Value)
	}
	return wrapperspb.String("hello " + in.Value), nil
}

// List sends n messages ("n" or "n:<code word>" to fail after them).
func listHandler(_ any, stream grpc.ServerStream) error {
	in := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	parts := strings.SplitN(in.Value, ":", 2)
	n, err := strconv.Atoi(parts[0])
	if err != nil {
		return status.Error(codes.InvalidArgument, "not a count")
	}
	for i := 0; i < n; i++ {
		if err := stream.SendMsg(wrapperspb.String(fmt.Sprintf("item %d", i))); err != nil {
			return err
		}
	}
	if len(parts) == 2 {
		return status.Error(failures[parts[1]], "failed after the items")
	}
	return nil
}

// Collect counts what the client streams; a message "bad" fails the call.
func collectHandler(_ any, stream grpc.ServerStream) error {
	items, size := 0, 0
	for {
		in := new(wrapperspb.StringValue)
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if in.Value == "bad" {
			return status.Error(codes.InvalidArgument, "bad item")
		}
		items++
		size += len(in.Value)
	}
	return stream.SendMsg(wrapperspb.String(fmt.Sprintf("%d items, %d bytes", items, size)))
}

// Chat echoes each message; "internal" fails the call.
func chatHandler(_ any, stream grpc.ServerStream) error {
	for {
		in := new(wrapperspb.StringValue)
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if c, bad := failures[in.Value]; bad {
			return status.Error(c, "chat failed")
		}
		if err := stream.SendMsg(wrapperspb.String("echo " + in.Value)); err != nil {
			return err
		}
	}
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "demo.Echo",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Say", Handler: sayHandler}},
	Streams: []grpc.StreamDesc{
		{StreamName: "List", Handler: listHandler, ServerStreams: true},
		{StreamName: "Collect", Handler: collectHandler, ClientStreams: true},
		{StreamName: "Chat", Handler: chatHandler, ServerStreams: true, ClientStreams: true},
	},
}

func grpcServer(addr string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		fail(err)
	}
	s := grpc.NewServer()
	s.RegisterService(&echoDesc, echoServer{})
	if err := s.Serve(lis); err != nil {
		fail(err)
	}
}

// Error classes the parser documents (http2.ts): the HTTP status gRPC's own mapping gives a
// code, 4xx client, 5xx server.
var clientCodes = map[codes.Code]bool{
	codes.Canceled: true, codes.InvalidArgument: true, codes.NotFound: true, codes.AlreadyExists: true,
	codes.PermissionDenied: true, codes.ResourceExhausted: true, codes.FailedPrecondition: true,
	codes.Aborted: true, codes.OutOfRange: true, codes.Unauthenticated: true,
}

func (t *tally) addStatus(api string, err error) {
	c := status.Code(err)
	t.add(api, c != codes.OK && clientCodes[c], c != codes.OK && !clientCodes[c])
}

// grpcClient makes, over one connection and from 4 goroutines at once, unary calls (some
// failing), server-streaming calls (one failing after its items), client-streaming calls
// (one failing, one with 3000-byte messages) and bidi calls (one failing) and a call to a
// method the server does not have.
func grpcClient(addr string) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	ctx := context.Background()
	t := newTally()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			words := []string{"world", "invalid", "world", "notfound", "internal", "world", "unavailable", "denied"}
			for i, w := range words {
				out := new(wrapperspb.StringValue)
				err := conn.Invoke(ctx, "/demo.Echo/Say", wrapperspb.String(fmt.Sprintf("%s", w)), out)
				t.addStatus("/demo.Echo/Say", err)
				if i%4 == 0 {
					list(ctx, conn, t, fmt.Sprintf("%d", 3+g))
				}
			}
			list(ctx, conn, t, "2:internal")
			collect(ctx, conn, t, []string{"a", "b", "c"})
			collect(ctx, conn, t, []string{"a", "bad", "c"})
			big := strings.Repeat("b", 3000)
			collect(ctx, conn, t, []string{big, big, big})
			chat(ctx, conn, t, []string{"x", "y", "z"})
			chat(ctx, conn, t, []string{"x", "denied"})
			err := conn.Invoke(ctx, "/demo.Echo/Nope", wrapperspb.String("?"), new(wrapperspb.StringValue))
			t.addStatus("/demo.Echo/Nope", err)
		}(g)
	}
	wg.Wait()
	t.print()
}

func list(ctx context.Context, conn *grpc.ClientConn, t *tally, arg string) {
	s, err := conn.NewStream(ctx, &echoDesc.Streams[0], "/demo.Echo/List")
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
	t.addStatus("/demo.Echo/List", err)
}

func collect(ctx context.Context, conn *grpc.ClientConn, t *tally, items []string) {
	s, err := conn.NewStream(ctx, &echoDesc.Streams[1], "/demo.Echo/Collect")
	for _, it := range items {
		if err == nil {
			err = s.SendMsg(wrapperspb.String(it))
		}
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = s.CloseSend()
	}
	if err == nil {
		err = s.RecvMsg(new(wrapperspb.StringValue))
	}
	t.addStatus("/demo.Echo/Collect", err)
}

func chat(ctx context.Context, conn *grpc.ClientConn, t *tally, items []string) {
	s, err := conn.NewStream(ctx, &echoDesc.Streams[2], "/demo.Echo/Chat")
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
	t.addStatus("/demo.Echo/Chat", err)
}
