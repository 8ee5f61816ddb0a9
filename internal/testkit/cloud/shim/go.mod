module github.com/natsnest/pulumi-natsnest/internal/testkit/cloud/shim

go 1.26.6
