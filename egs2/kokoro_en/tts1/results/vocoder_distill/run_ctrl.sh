#!/usr/bin/env bash
# As run in session 12 (issue 23), with that machine's scratch paths; see README.md.
# distillation: regression of the shipped vocoder onto HiFi-GAN universal's copy synthesis
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
exec .venv/bin/python -m espnet_mvc.bin.train_vocoder \
  --train-dir /tmp/s12/distill/data_voc/train_teacher --outdir /tmp/s12/distill/run_ctrl \
  --init-from espnet_mvc/pretrained/kokoro_en_mvc/vocoder.pth \
  --fs 24000 --n-fft 1024 --hop-length 300 --win-length 1024 --n-mels 80 --fmin 0 --fmax 12000 --istft-n-fft 1200 \
  --batch-size 8 --segment-frames 48 --lr 1e-4 --warmup-steps 50 --lambda-phase 1 \
  --dnsmos-dir /tmp/s12/distill/data_voc/valid_teacher --dnsmos-every 100 \
  --save-every-steps 100 --log-every-steps 25 --threads 1 "$@"
