package auth

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

func authHeader(r *wire.AuthStatusResponse) *wire.ResponseHeader { return &r.Header }
func userHeader(r *wire.UserResponse) *wire.ResponseHeader       { return &r.Header }
func roleHeader(r *wire.RoleResponse) *wire.ResponseHeader       { return &r.Header }

// Primitive is what the auth store registers with the state machine: its
// changes as operations and its queries as reads, each under its wire
// method's name (persisted in the log: never rename them). The store has
// no leases, so no Revoked hook.
var Primitive = primitive.Primitive{
	Name: "auth",
	Root: Root,
	Ops: []primitive.Op{
		primitive.NewOp(wire.MethodAuthEnable, ApplyAuthEnable, authHeader),
		primitive.NewOp(wire.MethodAuthDisable, ApplyAuthDisable, authHeader),
		primitive.NewOp(wire.MethodUserAdd, ApplyUserAdd, userHeader),
		primitive.NewOp(wire.MethodUserDelete, ApplyUserDelete, userHeader),
		primitive.NewOp(wire.MethodUserPasswd, ApplyUserPasswd, userHeader),
		primitive.NewOp(wire.MethodUserGrantRole, ApplyUserGrantRole, userHeader),
		primitive.NewOp(wire.MethodUserRevokeRole, ApplyUserRevokeRole, userHeader),
		primitive.NewOp(wire.MethodRoleAdd, ApplyRoleAdd, roleHeader),
		primitive.NewOp(wire.MethodRoleDelete, ApplyRoleDelete, roleHeader),
		primitive.NewOp(wire.MethodRoleGrantPermission, ApplyRoleGrantPermission, roleHeader),
		primitive.NewOp(wire.MethodRoleRevokePermission, ApplyRoleRevokePermission, roleHeader),
	},
	Reads: []primitive.Read{
		primitive.NewRead(wire.MethodAuthStatus, ReadAuthStatus, authHeader),
		primitive.NewRead(wire.MethodUserGet, ReadUserGet, userHeader),
		primitive.NewRead(wire.MethodUserList, ReadUserList, userHeader),
		primitive.NewRead(wire.MethodRoleGet, ReadRoleGet, roleHeader),
		primitive.NewRead(wire.MethodRoleList, ReadRoleList, roleHeader),
	},
}
