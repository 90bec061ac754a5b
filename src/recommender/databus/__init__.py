"""The databus: user actions taken from a STOMP topic, and served panels published to one."""
