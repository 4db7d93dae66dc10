package wire

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
)

// maxSocketIDPart is the most digits of either half of a socket id: a
// uint64 has at most 20.
const maxSocketIDPart = 20

// NewSocketID returns a new socket id, "<digits>.<digits>", the form the
// server SDKs check (pusher-http-node: /^\d+\.\d+$/). Its halves are two
// 64-bit numbers from crypto/rand: 128 random bits make ids unique without
// coordination between tasks, and unguessable, which matters because a
// channel authorization is bound to the socket id it was signed for.
// (crypto/rand.Read cannot fail since Go 1.24.)
func NewSocketID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return socketIDFrom(b)
}

func socketIDFrom(b [16]byte) string {
	id := make([]byte, 0, 2*maxSocketIDPart+1)
	id = strconv.AppendUint(id, binary.LittleEndian.Uint64(b[:8]), 10)
	id = append(id, '.')
	id = strconv.AppendUint(id, binary.LittleEndian.Uint64(b[8:]), 10)
	return string(id)
}

// ValidSocketID reports whether s has the form of a socket id, as the HTTP
// API's socket_id parameter and an authorizer's must: two runs of 1 to 20
// ASCII digits joined by a dot. The length bound, which the SDKs do not
// apply, holds every id NewSocketID makes.
func ValidSocketID(s string) bool {
	dot := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && dot < 0:
			dot = i
		case c < '0' || c > '9':
			return false
		}
	}
	after := len(s) - dot - 1
	return dot > 0 && dot <= maxSocketIDPart && after >= 1 && after <= maxSocketIDPart
}
