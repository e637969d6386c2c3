package main

import "errors"

func runFanout(args []string) error { return errors.New("not implemented yet") }
