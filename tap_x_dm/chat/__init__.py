"""XChat, X's end-to-end encrypted chats: the Chat API streams and their decryption."""
