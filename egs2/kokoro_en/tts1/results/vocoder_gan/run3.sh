#!/usr/bin/env bash
# run2: msstft with magnitudes compressed to |z|^0.1, B4 x 32 frames, teacher + festvox 1/4
# run3: run2 resumed from its step-4402 checkpoint (copied into run3/) without the phase losses (--lambda-phase 0)
cd /work/main/egs2/kokoro_en/tts1
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
exec ../../../.venv/bin/python -m espnet_mvc.bin.train_vocoder \
  --train-dir exp/vocoder_gan/data/train_teacher --extra-train-dir exp/vocoder_gan/data/train_real --extra-share 0.25 --resample \
  --outdir exp/vocoder_gan/run3 --init-from ../../../espnet_mvc/pretrained/kokoro_en_mvc/vocoder.pth \
  --fs 24000 --n-fft 1024 --hop-length 300 --win-length 1024 --n-mels 80 --fmin 0 --fmax 12000 --istft-n-fft 1200 \
  --batch-size 4 --segment-frames 32 --gan-start-step 0 --disc msstft --disc-channels 32 --disc-compress 0.1 \
  --lr 5e-5 --lr-d 4e-4 --warmup-steps 100 --disc-warmup-steps 300 --lambda-phase 0 --lambda-adv 1 --lambda-fm 2 \
  --dnsmos-dir exp/vocoder_gan/data/valid_teacher --dnsmos-dir exp/vocoder_gan/data/valid_real --dnsmos-every 200 \
  --save-every-steps 200 --log-every-steps 25 --threads 1 "$@"
