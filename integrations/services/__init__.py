"""The only writers of workspaces, memberships and Pinterest connections, one module per concern.

workspaces: workspaces, their members and marketers' users; connections:
connecting, the ad accounts chosen, disconnecting, marking a connection
invalid; tokens: calling Pinterest with a connection's token, refreshing
and re-encrypting tokens.
"""
