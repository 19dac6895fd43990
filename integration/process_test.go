package integration

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// process is one rollin OS process started by a test.
type process struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan error
}

// startRollin runs a program with args and env and returns once a line of its output
// (stdout and stderr) contains readyLine. name is the command line it runs, which labels it
// in failure messages; its first word picks the program: rollin, or rollin-dev for the
// development system and its parts. The process is killed when the test ends, if it still
// runs.
func startRollin(t *testing.T, name string, env []string, readyLine string, args ...string) *process {
	t.Helper()
	program := rollinBinary
	if strings.HasPrefix(name, "rollin-dev") {
		program = devBinary
	}
	bin, err := program()
	require.NoError(t, err)
	p := &process{t: t, name: name, cmd: exec.Command(bin, args...), output: &lockedBuffer{}, exited: make(chan error, 1)}
	p.cmd.Env = env
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	require.NoError(t, p.cmd.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			p.output.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), readyLine) {
				seen = true
				close(ready)
			}
		}
	}()
	go func() { p.exited <- p.cmd.Wait(); _ = pw.Close() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	select {
	case <-ready:
	case err := <-p.exited:
		t.Fatalf("%s exited before it was ready: %v\n%s", name, err, p.output)
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s not ready after 2 minutes:\n%s", name, p.output)
	}
	return p
}

// stop sends SIGTERM and requires a clean exit within a minute.
func (p *process) stop() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.wait(time.Minute)
}

// wait requires the process to exit cleanly within d.
func (p *process) wait(d time.Duration) {
	p.t.Helper()
	select {
	case err := <-p.exited:
		require.NoError(p.t, err, "%s should exit cleanly:\n%s", p.name, p.output)
	case <-time.After(d):
		p.t.Fatalf("%s did not stop within %s:\n%s", p.name, d, p.output)
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would, and waits for it.
func (p *process) kill() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s still runs 30 s after SIGKILL", p.name)
	}
}
