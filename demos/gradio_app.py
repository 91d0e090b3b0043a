"""The affectstream Gradio demo: live webcam affect and video files to CSV.

    pip install 'affectstream[demo]'   # or, in a checkout: pip install -e '.[demo]'
    python demos/gradio_app.py [--host 127.0.0.1] [--port 7860]   # the same as `affectstream demo`
"""
import argparse

from affectstream.demo import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-minutes", type=float, default=10.0,
                        help="longest video the video tab accepts")
    parser.add_argument("--max-upload-mb", type=float, default=200.0,
                        help="largest video file the video tab accepts, in MB")
    args = parser.parse_args()
    main(args.host, args.port, args.max_minutes, args.max_upload_mb)
