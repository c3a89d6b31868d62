// Calls ModelInfer on a v2 server (naiad, Triton) with stubs generated from naiad's protos/.
// Usage: go run . -url 127.0.0.1:8001 -model MODEL -input INPUT0 -dims 1,64
// Sends zeros as one FP32 input and prints each output's name, datatype and shape.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "example.com/naiadclient/inference"
)

func main() {
	url := flag.String("url", "127.0.0.1:8001", "server host:port")
	model := flag.String("model", "", "model name")
	input := flag.String("input", "INPUT0", "input tensor name")
	dimsFlag := flag.String("dims", "1,64", "input shape, batch dimension included")
	flag.Parse()

	var dims []int64
	count := int64(1)
	for _, d := range strings.Split(*dimsFlag, ",") {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			log.Fatalf("bad -dims: %v", err)
		}
		dims = append(dims, n)
		count *= n
	}
	// Raw contents: little-endian element bytes, row-major.
	raw := make([]byte, 4*count)
	for i := int64(0); i < count; i++ {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(0))
	}

	conn, err := grpc.NewClient(*url,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewGRPCInferenceServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	response, err := client.ModelInfer(ctx, &pb.ModelInferRequest{
		ModelName:        *model,
		Id:               "go-1",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: *input, Datatype: "FP32", Shape: dims}},
		RawInputContents: [][]byte{raw},
	})
	if err != nil {
		log.Fatalf("ModelInfer: %v", err) // the status code says why: NOT_FOUND, INVALID_ARGUMENT, ...
	}
	for i, out := range response.Outputs {
		fmt.Printf("%s %s %v (%d bytes)\n", out.Name, out.Datatype, out.Shape, len(response.RawOutputContents[i]))
	}
}
