"""Members: me, member, memberByCode, registerMember, and the Member type."""
