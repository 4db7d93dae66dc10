package auth_test

import (
	"fmt"
	"net/url"
	"time"

	"github.com/wsfargate/websocket-service/server/pusher/auth"
)

// The worked example of Pusher's "Authentication and authorization
// signatures" page: an authorizer signs, the server verifies.
func ExampleVerifyChannel() {
	const key, secret = "278d425bdf160c739803", "7ad3773142a6692b25b8"
	authString := key + ":" + auth.SignChannel(secret, "1234.1234", "private-foobar", "")
	fmt.Println(authString)
	fmt.Println(auth.VerifyChannel(key, secret, "1234.1234", "private-foobar", "", authString))
	fmt.Println(auth.VerifyChannel(key, secret, "1234.1235", "private-foobar", "", authString))
	// Output:
	// 278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4
	// <nil>
	// invalid signature: expected the HMAC-SHA256 hex digest of "1234.1235:private-foobar"
}

// The worked example of Pusher's HTTP API reference.
func ExampleSignRequest() {
	body := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	q := auth.SignRequest("POST", "/apps/3/events", nil, body, "278d425bdf160c739803", "7ad3773142a6692b25b8", time.Unix(1353088179, 0))
	fmt.Println(q.Encode())

	sent, _ := url.ParseQuery(q.Encode())
	fmt.Println(auth.VerifyRequest("POST", "/apps/3/events", sent, body, "278d425bdf160c739803", "7ad3773142a6692b25b8", time.Unix(1353088179+601, 0)))
	// Output:
	// auth_key=278d425bdf160c739803&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f
	// timestamp expired: auth_timestamp 1353088179 is not within 600 s of the server's time 1353088780
}
