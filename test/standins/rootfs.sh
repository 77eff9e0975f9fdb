# Helpers that build an image's root file system from the programs of this machine, for the
# base-image stand-ins (seed.sh) and the cluster node's Argo CD image (../cluster/kube-node.sh).
# Sourced; the caller defines log.

# with_busybox DIR: a shell and the usual applets (sh, wget, ls, ...), as an alpine image has.
with_busybox() {
	local root=$1 applet
	cp "$(command -v busybox)" "$root/bin/busybox"
	for applet in $("$root/bin/busybox" --list); do
		[[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
	done
}

# with_binary DIR PATH [DEST]: a dynamically linked program and the shared libraries it loads.
with_binary() {
	local root=$1 bin=$2 dest=${3:-$2} lib
	mkdir -p "$root$(dirname "$dest")"
	cp "$bin" "$root$dest"
	if ldd "$bin" | grep -q 'not found'; then
		log "missing libraries for $bin:"; ldd "$bin" >&2; exit 1
	fi
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
