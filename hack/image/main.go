// Command image builds ipvs-proxy's OCI image without a Docker daemon: one
// layer holding the files listed on stdin (hack/image.sh lists the static
// ipvs-proxy binary and the iptables tools with their libraries), written
// with github.com/google/go-containerregistry as a `docker load`-able
// tarball and as an OCI image layout. It prints the image's size.
//
//	image --tag ipvs-proxy:dev --tar OUT.tar --layout DIR --rootfs DIR < files
//
// Each stdin line is "PATH_IN_IMAGE SOURCE" (a regular file, copied with its
// mode) or "PATH_IN_IMAGE -> TARGET" (a symlink). Timestamps are zero, owners
// root, so the same inputs give the same image digest.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	tag := flag.String("tag", "ipvs-proxy:dev", "image reference written into the tarball (docker load names it so)")
	tarPath := flag.String("tar", "", "write a `docker load`-able tarball here")
	layoutDir := flag.String("layout", "", "write an OCI image layout into this folder")
	rootfs := flag.String("rootfs", "", "also unpack the image's filesystem here (mutate.Extract), for tests")
	flag.Parse()
	if err := run(os.Stdin, *tag, *tarPath, *layoutDir, *rootfs); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// entry is one file of the layer.
type entry struct {
	path   string // in the image, absolute
	source string // regular file to copy
	link   string // symlink target
}

func parse(r io.Reader) ([]entry, error) {
	var out []entry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case len(f) == 2:
			out = append(out, entry{path: path.Clean(f[0]), source: f[1]})
		case len(f) == 3 && f[1] == "->":
			out = append(out, entry{path: path.Clean(f[0]), link: f[2]})
		default:
			return nil, fmt.Errorf("stdin line %d: want \"PATH SOURCE\" or \"PATH -> TARGET\", got %q", n, sc.Text())
		}
	}
	return out, sc.Err()
}

// layerTar writes the entries (and their parent folders) as a tar stream.
func layerTar(es []entry) ([]byte, error) {
	sort.Slice(es, func(i, j int) bool { return es[i].path < es[j].path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	var epoch time.Time
	addDirs := func(p string) error {
		var parents []string
		for d := path.Dir(p); d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			d := parents[i]
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range es {
		if !path.IsAbs(e.path) {
			return nil, fmt.Errorf("%s: not an absolute path", e.path)
		}
		if err := addDirs(e.path); err != nil {
			return nil, err
		}
		if e.link != "" {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: e.path[1:], Linkname: e.link, Mode: 0o777, ModTime: epoch}); err != nil {
				return nil, err
			}
			continue
		}
		b, err := os.ReadFile(e.source)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(e.source)
		if err != nil {
			return nil, err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: e.path[1:], Size: int64(len(b)), Mode: int64(st.Mode().Perm()), ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	// Empty folders the DaemonSet mounts over.
	for _, d := range []string{"/run", "/lib/modules", "/etc/ipvs-proxy", "/tmp"} {
		if dirs[d] {
			continue
		}
		if err := addDirs(d + "/x"); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func run(stdin io.Reader, tag, tarPath, layoutDir, rootfs string) error {
	es, err := parse(stdin)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return fmt.Errorf("no files on stdin")
	}
	data, err := layerTar(es)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{"/ipvs-proxy"}
	cf.Config.Cmd = []string{"run"}
	cf.Config.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "ipvs-proxy",
		"org.opencontainers.image.description": "Service proxy for Kubernetes nodes using IPVS (replaces kube-proxy's IPVS mode)",
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	if tarPath != "" {
		if err := os.MkdirAll(filepath.Dir(tarPath), 0o755); err != nil {
			return err
		}
		if err := tarball.WriteToFile(tarPath, ref, img); err != nil {
			return fmt.Errorf("write %s: %w", tarPath, err)
		}
	}
	if layoutDir != "" {
		if err := os.RemoveAll(layoutDir); err != nil {
			return err
		}
		p, err := layout.Write(layoutDir, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()})); err != nil {
			return err
		}
	}
	if rootfs != "" {
		if err := unpack(img, rootfs); err != nil {
			return fmt.Errorf("unpack to %s: %w", rootfs, err)
		}
	}
	return report(img, ref, len(es), tarPath)
}

// report prints the digest and sizes: compressed (what a registry stores
// and a node pulls) and uncompressed (on disk).
func report(img v1.Image, ref name.Tag, files int, tarPath string) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	var compressed, uncompressed int64
	for _, l := range ls {
		s, err := l.Size()
		if err != nil {
			return err
		}
		compressed += s
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
		uncompressed += n
	}
	fmt.Printf("image %s %s: %d files, %.1f MiB compressed, %.1f MiB uncompressed\n",
		ref, d, files, float64(compressed)/(1<<20), float64(uncompressed)/(1<<20))
	if tarPath != "" {
		if st, err := os.Stat(tarPath); err == nil {
			fmt.Printf("docker load -i %s (%.1f MiB)\n", tarPath, float64(st.Size())/(1<<20))
		}
	}
	return nil
}

// unpack writes the image's flattened filesystem into dir.
func unpack(img v1.Image, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+h.Name)))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(h.Linkname, p)
			}
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				break
			}
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm()); err != nil {
				break
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return err
		}
	}
}
