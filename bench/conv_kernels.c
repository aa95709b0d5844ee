// The 3×3 convolution kernels of CKernels on one thread: direct against Winograd F(2×2, 3×3) (and F(4×4, 3×3)'s
// forward and weight gradient, first on each line), for the stride-1 layers of the CIFAR ResNet-18 layout at width 16
// (28, 14, 7 and 4 pixels) and two odd shapes; forward, input gradient and weight gradient, best of 3, with the
// largest difference relative to the largest value (F(4×4)'s forward against the direct kernel, its weight gradient
// against F(2×2)'s).
//
//   clang -O2 -I Sources/CKernels/include -I Sources/CKernels bench/conv_kernels.c Sources/CKernels/conv_direct.c \
//       Sources/CKernels/conv_winograd.c -o /tmp/conv_kernels -lm && /tmp/conv_kernels 128
//
// Arguments: samples per call (one thread's share of a batch), instruction set (-1 the best, 0, 1, 2).
#include "swiftcpc_kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *buf(size_t n){float*p=aligned_alloc(64,((n*4+63)/64)*64);for(size_t i=0;i<n;i++)p[i]=(rand()%1000)/1000.0f-0.5f;return p;}
static double maxdiff(float*a,float*b,size_t n){double m=0,s=0;for(size_t i=0;i<n;i++){double d=fabs(a[i]-b[i]);if(d>m)m=d;if(fabs(b[i])>s)s=fabs(b[i]);}return m/s;}
int main(int argc,char**argv){
  int N=argc>1?atoi(argv[1]):256; int isa=argc>2?atoi(argv[2]):-1;
  int geo[][3]={{28,16,16},{14,32,32},{7,64,64},{4,128,128},{5,16,48},{3,32,16}};
  for(int gi=0;gi<6;gi++){
    int H=geo[gi][0],C=geo[gi][1],O=geo[gi][2];
    swiftcpc_conv_geometry g={N,H,H,C,O,3,3,1,1,1,1,H,H};
    swiftcpc_conv_geometry gb={N,H,H,O,C,3,3,1,1,1,1,H,H};
    size_t xn=(size_t)N*H*H*C, yn=(size_t)N*H*H*O;
    float*x=buf(xn),*w=buf(9*C*O),*y=buf(yn),*y2=buf(yn),*dy=buf(yn),*dx=buf(xn),*dx2=buf(xn);
    float*hwio=buf(9*C*O),*howi=buf(9*C*O),*dwh=calloc(9*C*O,4),*dwp=buf(9*C*O),*dwp2=buf(9*C*O),*du=calloc(16*C*O,4);
    float*u=buf(16*C*O),*ub=buf(16*C*O),*z=calloc(4096,4),*sc=calloc(4096,4),*scr=buf(swiftcpc_winograd_scratch_floats(C>O?C:O,C>O?C:O,2)*2);
    for(int o=0;o<O;o++)for(int c=0;c<C;c++)for(int i=0;i<3;i++)for(int j=0;j<3;j++){float v=w[((o*C+c)*3+i)*3+j];hwio[((i*3+j)*C+c)*O+o]=v;howi[((i*O+o)*3+j)*C+c]=v;}
    swiftcpc_winograd_weights(w,u,C,O,2,0,0,O); swiftcpc_winograd_weights(w,ub,C,O,2,1,0,O);
    float*u4=buf(36*C*O),*y4=buf(yn),*scr4=buf(swiftcpc_winograd_scratch_floats(C>O?C:O,C>O?C:O,4)*2);
    swiftcpc_winograd_weights(w,u4,C,O,4,0,0,O);
    double t[8]={1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9}; float*du4=calloc(36*C*O,4),*dw4=buf(9*C*O);
    for(int r=0;r<3;r++){
      double a=now(); swiftcpc_conv_forward(x,hwio,y,&g,0,N,z,isa); double b=now(); if(b-a<t[0])t[0]=b-a;
      a=now(); swiftcpc_winograd_forward(x,u,y2,&g,0,N,scr,0,2,isa); b=now(); if(b-a<t[1])t[1]=b-a;
      a=now(); swiftcpc_winograd_forward(x,u4,y4,&g,0,N,scr4,0,4,isa); b=now(); if(b-a<t[6])t[6]=b-a;
      memset(du4,0,36*C*O*4); a=now(); swiftcpc_winograd_backward_weight(x,dy,du4,&g,0,N,scr4,4,isa); swiftcpc_winograd_weight_gradient(du4,dw4,C,O,4); b=now(); if(b-a<t[7])t[7]=b-a;
      memset(dx,0,xn*4); a=now(); swiftcpc_conv_backward_input(dy,howi,dx,&g,0,N,z,sc,isa); b=now(); if(b-a<t[2])t[2]=b-a;
      a=now(); swiftcpc_winograd_forward(dy,ub,dx2,&gb,0,N,scr,0,2,isa); b=now(); if(b-a<t[3])t[3]=b-a;
      memset(dwh,0,9*C*O*4); a=now(); swiftcpc_conv_backward_weight(x,dy,dwh,&g,0,N,z,isa); b=now(); if(b-a<t[4])t[4]=b-a;
      memset(du,0,16*C*O*4); a=now(); swiftcpc_winograd_backward_weight(x,dy,du,&g,0,N,scr,2,isa); swiftcpc_winograd_weight_gradient(du,dwp2,C,O,2); b=now(); if(b-a<t[5])t[5]=b-a;
    }
    for(int o=0;o<O;o++)for(int c=0;c<C;c++)for(int i=0;i<3;i++)for(int j=0;j<3;j++) dwp[((o*C+c)*3+i)*3+j]=dwh[((i*3+j)*C+c)*O+o];
    printf("F4 fwd %6.2f ms (%.1e) bw %6.2f (%.1e)  ",t[6]*1e3,maxdiff(y4,y,yn),t[7]*1e3,maxdiff(dw4,dwp2,9*C*O));
    printf("H%2d C%3d O%3d fwd %6.2f/%6.2f ms (%.1e)  bin %6.2f/%6.2f (%.1e)  bw %6.2f/%6.2f (%.1e)\n",H,C,O,t[0]*1e3,t[1]*1e3,maxdiff(y2,y,yn),t[2]*1e3,t[3]*1e3,maxdiff(dx2,dx,xn),t[4]*1e3,t[5]*1e3,maxdiff(dwp2,dwp,9*C*O));
  }
}
