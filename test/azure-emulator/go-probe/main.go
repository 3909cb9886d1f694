// Go HTTP probe for the Azure-in-a-box test: GETs each URL with the default client (so Go's
// SSL_CERT_FILE handling and /etc/hosts resolution are what is exercised) and prints the statuses.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	for _, u := range os.Args[1:] {
		resp, err := http.Get(u)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(resp.StatusCode)
	}
}
