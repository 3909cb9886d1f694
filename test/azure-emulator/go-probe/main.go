// Go HTTP probe for the Azure-in-a-box test: GETs each URL with a clone of Go's default transport
// (so Go's SSL_CERT_FILE handling and /etc/hosts resolution are what is exercised) and prints the
// statuses. Only the TLS handshake timeout differs from the default client: its 10 s fired once in
// CI while both cores were busy with other test files, and the probe is about trust and name
// resolution, not speed; the test's own 60 s bound still applies.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSHandshakeTimeout = 45 * time.Second
	client := &http.Client{Transport: transport}
	for _, u := range os.Args[1:] {
		resp, err := client.Get(u)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
}
