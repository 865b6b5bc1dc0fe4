"""The users, posts and media DM events refer to: from a page's includes or looked up by id."""
