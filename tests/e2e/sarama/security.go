// Security settings for every sarama_e2e mode, read from the environment so
// that the command lines stay the same with and without them:
//
//	SARAMA_TLS_CA        PEM CA file: connect over TLS (SSL / SASL_SSL)
//	SARAMA_TLS_CERT      PEM client certificate (with SARAMA_TLS_KEY)
//	SARAMA_TLS_KEY       PEM private key of SARAMA_TLS_CERT
//	SARAMA_SASL_MECHANISM PLAIN or SCRAM-SHA-256 / SCRAM-SHA-512
//	SARAMA_SASL_USER, SARAMA_SASL_PASSWORD
//
// sarama 1.22 speaks PLAIN itself (at V1_0_0_0 and later: SaslHandshake v1
// + SaslAuthenticate v0) but needs a SCRAM client from the application;
// Debian ships no SCRAM library for GOPATH builds (no xdg/scram, no
// x/crypto/pbkdf2), so scramClient below implements the RFC 5802 client
// side with the standard library only.
package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io/ioutil"
	"os"
	"strconv"
	"strings"

	"github.com/Shopify/sarama"
)

// applySecurity configures TLS and SASL on c from the environment.
func applySecurity(c *sarama.Config) {
	if ca := os.Getenv("SARAMA_TLS_CA"); ca != "" {
		pem, err := ioutil.ReadFile(ca)
		if err != nil {
			fail("reading SARAMA_TLS_CA: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fail("no certificate in %s", ca)
		}
		t := &tls.Config{RootCAs: pool}
		if cert := os.Getenv("SARAMA_TLS_CERT"); cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, os.Getenv("SARAMA_TLS_KEY"))
			if err != nil {
				fail("loading the client certificate: %v", err)
			}
			t.Certificates = []tls.Certificate{pair}
		}
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = t
	}
	mechanism := os.Getenv("SARAMA_SASL_MECHANISM")
	if mechanism == "" {
		return
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.User = os.Getenv("SARAMA_SASL_USER")
	c.Net.SASL.Password = os.Getenv("SARAMA_SASL_PASSWORD")
	switch mechanism {
	case "PLAIN":
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case "SCRAM-SHA-256":
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{newHash: sha256.New} }
	case "SCRAM-SHA-512":
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{newHash: sha512.New} }
	default:
		fail("unknown SARAMA_SASL_MECHANISM %q", mechanism)
	}
}

// scramClient is the client side of one SCRAM exchange (RFC 5802, no
// channel binding): client-first, client-final, then the server signature
// check.
type scramClient struct {
	newHash         func() hash.Hash
	user, password  string
	step            int
	clientNonce     string
	clientFirstBare string
	serverSignature []byte
}

func (s *scramClient) Begin(user, password, authzID string) error {
	if authzID != "" {
		return errors.New("authzid is not supported")
	}
	nonce := make([]byte, 18)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	s.user = strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user)
	s.password = password
	s.clientNonce = base64.StdEncoding.EncodeToString(nonce)
	return nil
}

func (s *scramClient) hmac(key []byte, data string) []byte {
	m := hmac.New(s.newHash, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// saltedPassword is Hi(password, salt, iterations), PBKDF2 with one block.
func (s *scramClient) saltedPassword(salt []byte, iterations int) []byte {
	m := hmac.New(s.newHash, []byte(s.password))
	m.Write(salt)
	m.Write([]byte{0, 0, 0, 1})
	u := m.Sum(nil)
	out := append([]byte(nil), u...)
	for i := 1; i < iterations; i++ {
		m.Reset()
		m.Write(u)
		u = m.Sum(nil)
		for j := range out {
			out[j] ^= u[j]
		}
	}
	return out
}

func attributes(message string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(message, ",") {
		if len(part) >= 2 && part[1] == '=' {
			out[part[:1]] = part[2:]
		}
	}
	return out
}

func (s *scramClient) Step(challenge string) (string, error) {
	s.step++
	switch s.step {
	case 1:
		s.clientFirstBare = "n=" + s.user + ",r=" + s.clientNonce
		return "n,," + s.clientFirstBare, nil
	case 2:
		a := attributes(challenge)
		if e, ok := a["e"]; ok {
			return "", fmt.Errorf("server error %q", e)
		}
		nonce, salt64, iter := a["r"], a["s"], a["i"]
		if !strings.HasPrefix(nonce, s.clientNonce) || len(nonce) == len(s.clientNonce) {
			return "", fmt.Errorf("server nonce %q does not extend ours", nonce)
		}
		salt, err := base64.StdEncoding.DecodeString(salt64)
		if err != nil {
			return "", fmt.Errorf("salt: %v", err)
		}
		iterations, err := strconv.Atoi(iter)
		if err != nil || iterations < 1 {
			return "", fmt.Errorf("iteration count %q", iter)
		}
		salted := s.saltedPassword(salt, iterations)
		clientKey := s.hmac(salted, "Client Key")
		h := s.newHash()
		h.Write(clientKey)
		storedKey := h.Sum(nil)
		withoutProof := "c=biws,r=" + nonce
		authMessage := s.clientFirstBare + "," + challenge + "," + withoutProof
		signature := s.hmac(storedKey, authMessage)
		proof := make([]byte, len(clientKey))
		for i := range proof {
			proof[i] = clientKey[i] ^ signature[i]
		}
		s.serverSignature = s.hmac(s.hmac(salted, "Server Key"), authMessage)
		return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
	case 3:
		a := attributes(challenge)
		if e, ok := a["e"]; ok {
			return "", fmt.Errorf("server error %q", e)
		}
		got, err := base64.StdEncoding.DecodeString(a["v"])
		if err != nil || subtle.ConstantTimeCompare(got, s.serverSignature) != 1 {
			return "", errors.New("the server signature does not match")
		}
		return "", nil
	}
	return "", errors.New("SCRAM exchange already finished")
}

func (s *scramClient) Done() bool { return s.step >= 3 }
