package provision

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// UnitOptions are what the unit depends on.
type UnitOptions struct {
	Layout Layout
	// LameDuckDuration is nats.conf's lame_duck_duration: stopping takes
	// that long, so TimeoutStopSec must be longer.
	LameDuckDuration time.Duration
	// NoDataDisk keeps the store on the root filesystem: the unit then does
	// not require DataMount to be a mount point. Only for machines without
	// a spare disk (tests).
	NoDataDisk bool
}

// stopMargin is added to the lame duck duration for JetStream to flush and
// shut down after the last client is gone.
const stopMargin = 60 * time.Second

// unitExposure is what systemd-analyze security says of the unit (systemd
// 252, Debian 12); TestUnitExposure holds it to MaxUnitExposure.
const unitExposure = "1.6 OK"

// MaxUnitExposure is the most systemd-analyze security may rate the unit.
const MaxUnitExposure = 3.0

// File descriptors: JetStream needs two per stream, clients one each.
const openFilesLimit = 1048576

// RenderUnit renders natsd.service.
func RenderUnit(o UnitOptions) (string, error) {
	l := o.Layout
	if err := l.check(); err != nil {
		return "", err
	}
	if o.LameDuckDuration < 30*time.Second {
		return "", fmt.Errorf("provision: LameDuckDuration %s is below nats-server's minimum of 30s", o.LameDuckDuration)
	}
	stop := int64((o.LameDuckDuration + stopMargin + time.Second - 1) / time.Second)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# %s.service, rendered by natsnest. Do not edit: the next deployment replaces it.", Service)
	w("[Unit]")
	w("Description=NATS server (natsnest)")
	w("Documentation=https://docs.nats.io/running-a-nats-service/introduction")
	w("Wants=network-online.target")
	w("After=network-online.target")
	if !o.NoDataDisk {
		w("# JetStream must never start on the root disk because the data disk is missing:")
		w("# the mount is required, and a start without it fails (and is retried).")
		w("RequiresMountsFor=%s", l.DataMount)
		w("AssertPathIsMountPoint=%s", l.DataMount)
	}
	w("")
	w("[Service]")
	w("Type=simple")
	w("User=%s", l.User)
	w("Group=%s", l.Group)
	w("ExecStart=%s --config %s", l.Binary, l.ConfigPath())
	// ${MAINPID} with braces: systemd substitutes a bare $MAINPID only as a
	// word of its own, and "reload=$MAINPID" would reach the server as is.
	w("ExecReload=%s --signal reload=${MAINPID}", l.Binary)
	w("# Stopping sends SIGUSR2, nats-server's lame duck mode: it stops accepting")
	w("# clients, moves them to the other nodes over lame_duck_duration and exits.")
	w("# (An ExecStop= that sends the signal returns at once, after which systemd")
	w("# sends SIGTERM and cuts lame duck short.) TimeoutStopSec is the lame duck")
	w("# duration plus %s for JetStream to shut down.", stopMargin)
	w("KillSignal=SIGUSR2")
	w("KillMode=mixed")
	w("TimeoutStopSec=%d", stop)
	w("Restart=always")
	w("RestartSec=10")
	w("LimitNOFILE=%d", openFilesLimit)
	w("UMask=0077")
	w("NoNewPrivileges=yes")
	w("ProtectSystem=strict")
	w("ReadWritePaths=%s", l.StoreDir)
	w("ProtectHome=yes")
	w("PrivateTmp=yes")
	w("PrivateDevices=yes")
	w("ProtectKernelTunables=yes")
	w("ProtectKernelModules=yes")
	w("ProtectControlGroups=yes")
	w("RestrictSUIDSGID=yes")
	w("LockPersonality=yes")
	w("# No capabilities, no privileged system calls, no namespaces: nats-server")
	w("# needs none. Netlink stays: Go lists the interfaces' addresses with it,")
	w("# which nats-server advertises. systemd-analyze security rates this unit at")
	w("# most %.1f (offline, on Debian 12: %s).", MaxUnitExposure, unitExposure)
	w("CapabilityBoundingSet=")
	w("AmbientCapabilities=")
	w("ProtectClock=yes")
	w("ProtectHostname=yes")
	w("ProtectKernelLogs=yes")
	w("ProtectProc=invisible")
	w("PrivateIPC=yes")
	w("RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK")
	w("RestrictNamespaces=yes")
	w("RestrictRealtime=yes")
	w("MemoryDenyWriteExecute=yes")
	w("RemoveIPC=yes")
	w("DevicePolicy=closed")
	w("KeyringMode=private")
	w("SystemCallArchitectures=native")
	w("SystemCallFilter=@system-service")
	w("SystemCallFilter=~@privileged")
	w("SystemCallErrorNumber=EPERM")
	w("")
	w("[Install]")
	w("WantedBy=multi-user.target")
	return b.String(), nil
}

// exposureRE finds systemd-analyze security's verdict.
var exposureRE = regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9]+\.[0-9])`)

// ParseExposure reads the overall exposure level out of systemd-analyze
// security's output.
func ParseExposure(out string) (float64, bool) {
	m := exposureRE.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}
